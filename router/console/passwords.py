"""Password hashing (argon2id, argon2-cffi's defaults), off the event loop.

One hash costs tens of milliseconds of CPU and 64 MiB; run on the loop it would delay
every call's events by that much, so checking goes to a small pool of its own
(`PasswordChecker`); hashing happens in the `users` command only.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
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


class CheckerBusyError(Exception):
    """Too many checks are already waiting: answer "try again shortly" instead."""


class PasswordChecker:
    """argon2 checks on a pool of their own: `workers` threads (each check holds 64 MiB),
    at most `backlog` checks admitted at once. A flood of sign-ins neither starves the
    default executor (DNS, file reads) nor grows memory without bound."""

    def __init__(self, workers: int = 2, backlog: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._backlog = backlog
        self._admitted = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if self._admitted >= self._backlog:
            raise CheckerBusyError()
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, verify_password, password_hash, password)
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
