"""Schema migrations: alembic, driven from code.

The scripts live in `router/storage/migrations/` so that they ship inside the package:
`migrate(url)` works the same from a checkout, an editable install or a wheel. The
alembic CLI reaches the same scripts through `sql/alembic.ini`.

`migrate()` hands alembic an already-open connection (alembic's "connection sharing"
recipe) instead of letting `env.py` start its own event loop, which it cannot do inside
the router's running loop.
"""

from __future__ import annotations

import asyncio
import io
import logging.config
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, make_url, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from router.storage.db import prepare_sqlite_path, sqlite_file_exists
from router.storage.tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")

# Any constant works: it only has to be the same for every router process sharing the
# database, so that two nodes starting at once migrate one after the other.
_PG_LOCK_KEY = 0x636C696E6963  # "clinic"
_SQLITE_BUSY_TIMEOUT_MS = 30_000  # another process may hold the write lock briefly


def alembic_config(url: str | None = None) -> Config:
    """An alembic `Config` pointing at the packaged scripts (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # configparser interpolation: a literal % (URL-encoded passwords) must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only if the versions folder did not ship
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def render_sql(url: str, revision: str = "head") -> str:
    """The SQL script that migrates an empty database at `url` to `revision`.

    Only the dialect of `url` matters (`postgresql+asyncpg://` will do): nothing connects.
    For DBAs who apply DDL themselves, and for the reference copies in `sql/`.
    """
    buffer = io.StringIO()
    config = alembic_config(url)
    config.output_buffer = buffer
    command.upgrade(config, revision, sql=True)
    return buffer.getvalue()


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision`; a no-op when it is already there.

    Creates the SQLite file (and its folder) if missing. Safe to call from several
    processes at once: the upgrade runs under a database-wide lock.
    """
    prepare_sqlite_path(url)
    # NullPool: this engine lives for one upgrade; nothing should stay open afterwards.
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_upgrade, revision)
            await conn.commit()
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None: never migrated, or no such file)."""
    if not sqlite_file_exists(url):
        return None  # connecting would create an empty file as a side effect of asking
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    _lock(connection)
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _lock(connection: Connection) -> None:
    """Start the migration's transaction holding a database-wide lock."""
    if connection.dialect.name == "sqlite":
        # foreign_keys stays off on this connection (SQLite's default): batch mode rebuilds
        # tables by copy-and-drop, which with enforcement on would cascade-delete children.
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS:d}")
        # Python's sqlite3 (3.11) autocommits DDL; an explicit BEGIN makes a failed
        # migration roll back whole. IMMEDIATE takes the write lock before alembic reads
        # the current version, so concurrent migrators serialise.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def run_environment() -> None:
    """The body of `env.py`: run the migrations alembic asked for, online or offline."""
    config = context.config
    if config.config_file_name is not None:  # the CLI: log as sql/alembic.ini says
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        _run_offline(config)
    elif isinstance(connection, Connection):
        _run_on(connection)
    else:  # the alembic CLI: no loop is running yet, so we may start one
        asyncio.run(_run_cli(config))


def _configure(dialect_name: str, **how: Any) -> None:
    context.configure(
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=dialect_name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        **how,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_cli(config: Config) -> None:
    url = _cli_url(config)
    prepare_sqlite_path(url)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_lock)
            await conn.run_sync(_run_on)
            await conn.commit()
    finally:
        await engine.dispose()


def _run_offline(config: Config) -> None:
    url = _cli_url(config)
    _configure(
        make_url(url).get_backend_name(),
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _cli_url(config: Config) -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass `-x url=...` or set sqlalchemy.url")
    return url
