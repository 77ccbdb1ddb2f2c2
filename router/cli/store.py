"""The database of `router.yaml` for one CLI command: opened (migrated), used, closed."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError

from router.config.settings import Settings
from router.storage.store import Store


async def with_store(settings: Settings, command: Callable[[Store], Awaitable[int]]) -> int:
    """Run `command` over the store and return its exit code; 2 with one line on stderr
    when the database cannot be opened (never a traceback)."""
    try:
        store = await Store.open(settings.database.url.get_secret_value(), migrate=True)
    except (OSError, SQLAlchemyError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"cannot open the database: {first_line}", file=sys.stderr)
        return 2
    try:
        return await command(store)
    finally:
        await store.close()
