"""Console sessions: who is signed in, for how long, and the CSRF token of the session.

The cookie is encrypted and authenticated (Fernet, via aiohttp-session), `HttpOnly` and
`SameSite=Strict`. What it holds is checked against the database on every request: a
disabled user or a changed password ends every session at once, not at its expiry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from router.config.console_settings import ConsoleSettings
from router.domain.console_access import Role
from router.storage.users import UserRow

COOKIE_NAME = "clinic_console"
_USER = "user"
_SIGNED_IN = "signed_in"
_SEEN = "seen"
_CSRF = "csrf"
# The "last seen" stamp is rewritten at most this often: a page polled every second
# would otherwise get a new cookie every second.
_SEEN_GRANULARITY_S = 30.0


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of a request."""

    username: str
    role: Role
    operator_id: str | None


def cookie_key(secret: str) -> bytes:
    """The cookie's 32-byte key, derived from `secret` (the console secret or API token):
    a key of its own, so the cookie never reveals anything about the token."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"clinic-router console")
    return hkdf.derive(secret.encode())


def cookie_storage(key: bytes, settings: ConsoleSettings) -> EncryptedCookieStorage:
    return EncryptedCookieStorage(
        key,  # raw bytes: the storage base64-encodes them for Fernet
        cookie_name=COOKIE_NAME,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=settings.secure_cookie,
        max_age=settings.session_max_h * 3600,
    )


def csrf_token(session: Session) -> str:
    """The session's CSRF token, made on first use (signed out too: the sign-in form has one)."""
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF] = token
    return token


def csrf_matches(session: Session, given: str | None) -> bool:
    token = session.get(_CSRF)
    return isinstance(token, str) and given is not None and secrets.compare_digest(token, given)


def sign_in(session: Session, username: str, now: float) -> None:
    """A fresh session for `username`: new CSRF token, so one taken before sign-in is void."""
    session.invalidate()
    session[_USER] = username
    session[_SIGNED_IN] = now
    session[_SEEN] = now
    session[_CSRF] = secrets.token_urlsafe(32)


def sign_out(session: Session) -> None:
    session.invalidate()


def session_user(session: Session, now: float, settings: ConsoleSettings) -> str | None:
    """The user name the session stands for, or None when signed out or expired."""
    user, signed_in, seen = session.get(_USER), session.get(_SIGNED_IN), session.get(_SEEN)
    if not isinstance(user, str) or not isinstance(signed_in, float | int):
        return None
    if not isinstance(seen, float | int):
        return None
    idle, age = now - seen, now - signed_in
    if idle > settings.session_idle_min * 60 or age > settings.session_max_h * 3600:
        return None
    return user


def touch(session: Session, now: float) -> None:
    seen = session.get(_SEEN)
    if not isinstance(seen, float | int) or now - seen >= _SEEN_GRANULARITY_S:
        session[_SEEN] = now


def still_valid(session: Session, row: UserRow | None) -> bool:
    """False when the user is gone, disabled, or changed their password since signing in."""
    if row is None or row.disabled:
        return False
    signed_in = session.get(_SIGNED_IN)
    return isinstance(signed_in, float | int) and signed_in >= row.password_changed_at.timestamp()
