"""Console sessions: who is signed in, for how long, and the CSRF token of the session.

The cookie is encrypted and authenticated (Fernet, via aiohttp-session), `HttpOnly`,
`SameSite=Strict`, and `Secure` whenever the browser reached us over HTTPS (or as
`console.secure_cookie` says). It carries a random session id and the CSRF token only;
the session itself is a row on the server (`router.storage.console_sessions`), checked
on every request: sign-out, a new password or a disabled user delete it, so a copied
cookie stops working at once, and a router restart keeps everyone signed in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from router.config.console_settings import ConsoleSettings
from router.domain.console_access import Role
from router.storage.console_sessions import SessionRepository, SessionRow
from router.storage.users import UserRow

COOKIE_NAME = "clinic_console"
_SID = "sid"
_CSRF = "csrf"
# "Last seen" is written at most this often: a page polled every second would
# otherwise write to the database every second.
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


def came_over_https(request: web.Request, trusted_proxies: frozenset[str]) -> bool:
    """The browser's own connection was HTTPS: ours, or a trusted proxy's
    `X-Forwarded-Proto: https` (from anyone else the header is ignored)."""
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and _is_trusted(request.remote, trusted_proxies)


def _is_trusted(remote: str | None, trusted: frozenset[str]) -> bool:
    try:
        return remote is not None and str(ip_address(remote)) in trusted
    except ValueError:
        return False


class ConsoleCookieStorage(EncryptedCookieStorage):
    """The encrypted cookie, marked `Secure` per request (`console.secure_cookie`:
    `auto` when the request came over HTTPS, `true` always, `false` never)."""

    def __init__(self, key: bytes, settings: ConsoleSettings) -> None:
        super().__init__(
            key,  # raw bytes: the storage base64-encodes them for Fernet
            cookie_name=COOKIE_NAME,
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=settings.secure_cookie is True,
            max_age=settings.session_max_h * 3600,
        )
        self._auto = settings.secure_cookie == "auto"
        self._trusted = frozenset(str(ip_address(p)) for p in settings.trusted_proxies)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        await super().save_session(request, response, session)
        morsel = response.cookies.get(self.cookie_name)
        if morsel is not None and self._auto and came_over_https(request, self._trusted):
            morsel["secure"] = True


def cookie_storage(key: bytes, settings: ConsoleSettings) -> EncryptedCookieStorage:
    return ConsoleCookieStorage(key, settings)


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


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


async def sign_in(
    session: Session,
    store: SessionRepository,
    username: str,
    now: float,
    settings: ConsoleSettings,
) -> None:
    """A fresh session for `username`: a new server-side row and a new CSRF token, so
    one taken before sign-in is void. Expired rows of anyone are dropped on the way."""
    await store.purge(
        _at(now) - timedelta(minutes=settings.session_idle_min),
        _at(now) - timedelta(hours=settings.session_max_h),
    )
    session.invalidate()
    session[_SID] = await store.open(username, _at(now))
    session[_CSRF] = secrets.token_urlsafe(32)


async def sign_out(session: Session, store: SessionRepository) -> None:
    """End the session on the server too: the cookie, wherever a copy is, is void."""
    sid = session.get(_SID)
    if isinstance(sid, str):
        await store.end(sid)
    session.invalidate()


def has_session(session: Session) -> bool:
    return _SID in session


def expired(row: SessionRow, now: float, settings: ConsoleSettings) -> bool:
    idle = now - row.seen_at.timestamp()
    age = now - row.created_at.timestamp()
    return idle > settings.session_idle_min * 60 or age > settings.session_max_h * 3600


async def session_row(
    session: Session, store: SessionRepository, now: float, settings: ConsoleSettings
) -> SessionRow | None:
    """The live server-side session the cookie names (its use recorded), or None when
    signed out, ended elsewhere or expired (an expired row is deleted)."""
    sid = session.get(_SID)
    if not isinstance(sid, str):
        return None
    row = await store.find(sid)
    if row is None:
        return None
    if expired(row, now, settings):
        await store.end(sid)
        return None
    if now - row.seen_at.timestamp() >= _SEEN_GRANULARITY_S:
        await store.touch(sid, _at(now))
    return row


def still_valid(started: SessionRow, row: UserRow | None) -> bool:
    """False when the user is gone, disabled, or changed their password since signing in
    (those end the session rows too; this holds if a row was written by other means)."""
    if row is None or row.disabled:
        return False
    return started.created_at >= row.password_changed_at
