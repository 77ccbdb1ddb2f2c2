"""Password hashing (argon2id, argon2-cffi's defaults), off the event loop.

One hash costs tens of milliseconds of CPU and 64 MiB; run on the loop it would delay
every call's events by that much, so both hashing and checking go to a worker thread.
"""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8

_hasher = PasswordHasher()  # parameters only, no state


@cache
def _dummy_hash() -> str:
    # Checked when the user name is unknown, so a miss costs what a wrong password costs
    # and the answer's timing does not tell which names exist.
    return _hasher.hash("clinic-router: no such user")


class WeakPasswordError(ValueError):
    pass


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"the password must have at least {MIN_LENGTH} characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def verify_in_thread(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
