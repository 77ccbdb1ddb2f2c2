"""Is the SQLite file at its path still the one the router opened?

SQLite keeps working on a file that was deleted, or whose folder was, under an open
connection: it writes into the unlinked inode, and all of it is gone when the process
exits. Comparing the device and inode of the path with those of the file opened tells.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileId:
    dev: int
    ino: int


class FileProblem(StrEnum):
    DELETED = "deleted"  # the path has no file; its folder is there
    FOLDER_GONE = "folder_gone"  # the folder is gone too
    REPLACED = "replaced"  # another file is at the path


def file_id(path: Path) -> FileId | None:
    """The identity of the file at `path`, None when there is none."""
    try:
        st = os.stat(path)
    except OSError:  # gone, or unreadable: either way not the file opened
        return None
    return FileId(st.st_dev, st.st_ino)


def problem_of(path: Path, opened: FileId) -> FileProblem | None:
    """What is wrong with `path` for a connection opened on the file `opened` (None: nothing)."""
    now = file_id(path)
    if now == opened:
        return None
    if now is not None:
        return FileProblem.REPLACED
    return FileProblem.DELETED if os.path.isdir(path.parent) else FileProblem.FOLDER_GONE


def describe(problem: FileProblem, path: Path) -> str:
    """The reason /health and the log give, with what an operator can do about it."""
    if problem is FileProblem.REPLACED:
        return (
            f"the database file {path} is not the file the router opened (replaced); writes "
            "are held in memory: put the original back or remove the new file (the router "
            "then writes its open copy there)"
        )
    if problem is FileProblem.FOLDER_GONE:
        return (
            f"the database folder {path.parent} was deleted; writes are held in memory: "
            "re-create the folder and the router writes its open copy of the database there"
        )
    return f"the database file {path} was deleted; writes are held until it is restored"


def existing_file_uri(path: Path) -> str:
    """A SQLite URI that opens `path` only if it exists (never creates an empty database)."""
    return f"file:{quote(str(path.absolute()))}?mode=rw"


def restore_target(path: Path) -> Path:
    """Where the copy is written before it is linked into place (same folder: same disk)."""
    return path.with_name(f".{path.name}.restoring")


class FileGuard:
    """Watches the SQLite file of one engine and puts the open copy back when it vanished.

    `install()` before the first connection; `pin()` once it succeeded. From then on new
    connections open the path only if a file is there (never an empty database in a folder
    re-created after a deletion), and `check()` says whether the path still holds the file
    opened, logging once when that changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.opened: FileId | None = None
        self.problem: FileProblem | None = None
        self.open_connections = 0
        self._none_open = asyncio.Event()
        self._generation = 0  # of the file connections open: +1 at each restore
        self._restore_failed = False

    def install(self, engine: AsyncEngine) -> None:
        target = engine.sync_engine

        def do_connect(_dialect: Any, _rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
            if self.opened is not None:
                cargs[0] = existing_file_uri(self.path)
                cparams["uri"] = True

        def opened(_dbapi: Any, rec: Any) -> None:
            rec.info["file_generation"] = self._generation
            self.open_connections += 1
            self._none_open.clear()

        def checkin(_dbapi: Any, rec: Any) -> None:
            # A connection still in use while the file was restored: closed on its return
            # (the disposed pool would keep it open, and close it whenever it is collected).
            if rec is not None and rec.info.get("file_generation", self._generation) != (
                self._generation
            ):
                rec.invalidate()

        def closed(_dbapi: Any, _rec: Any = None) -> None:
            self.open_connections -= 1
            if self.open_connections <= 0:
                self._none_open.set()

        event.listen(target, "do_connect", do_connect)
        event.listen(target, "connect", opened)
        event.listen(target, "close", closed)
        event.listen(target, "close_detached", closed)
        event.listen(target, "checkin", checkin)

    def pin(self) -> None:
        self.opened = file_id(self.path)

    def check(self) -> FileProblem | None:
        problem = None if self.opened is None else problem_of(self.path, self.opened)
        if problem is not self.problem:
            if problem is None:
                log.info("the database file %s is back; writes resume", self.path)
            elif self.problem is None:
                log.warning("%s", describe(problem, self.path))
            else:  # the same incident going on: e.g. the folder is back, the file not yet
                log.info("%s", describe(problem, self.path))
            self.problem = problem
            self._restore_failed = False
        return problem

    async def restore(self, engine: AsyncEngine) -> bool:
        """Write the database as the open connections still see it to the path, then let
        new connections use it. Only for a deleted file whose folder is there: a folder
        still gone waits for the operator; another file at the path is never overwritten.
        Hold the engine's writers off while this runs."""
        if self.check() is not FileProblem.DELETED:
            return False
        if not self._idle_connection(engine):
            return False
        copy = restore_target(self.path)
        try:
            copy.unlink(missing_ok=True)
            async with engine.connect() as conn:  # a pooled connection to the vanished file
                await conn.exec_driver_sql("VACUUM INTO ?", (str(copy),))
        except (OSError, sa_exc.SQLAlchemyError) as exc:
            if not self._restore_failed:
                log.error("the database file %s could not be restored: %s", self.path, exc)
                self._restore_failed = True
            return False
        self._generation += 1
        await engine.dispose()
        await self._old_connections_closed()
        try:
            os.link(copy, self.path)  # unlike a rename, never replaces a file that appeared
        except OSError as exc:  # a file appeared meanwhile, or the folder is read-only
            kept = copy.with_name(f"{self.path.name}.router-copy")
            copy.replace(kept)
            log.error(
                "could not put the database back at %s (%s); its copy is %s", self.path, exc, kept
            )
            self.check()
            return False
        copy.unlink()
        self.opened = file_id(self.path)
        self.problem = None
        log.info("the database file %s was restored from the router's open copy", self.path)
        return True

    def _idle_connection(self, engine: AsyncEngine) -> bool:
        """Whether the pool holds an idle connection to the vanished file (a new one cannot
        open it): the copy is read through it. All busy: try again at the next check."""
        pool = engine.pool
        if self.open_connections > 0:
            return not isinstance(pool, QueuePool) or pool.checkedin() > 0
        if not self._restore_failed:
            log.error(
                "no connection to the deleted database %s is left: what it held cannot be "
                "restored; restart the router to start on a new database",
                self.path,
            )
            self._restore_failed = True
        return False

    async def _old_connections_closed(self, timeout_s: float = 10.0) -> None:
        # The last connection to close on a WAL database deletes `<path>-wal` and `-shm`
        # by name: if one of the vanished file closed after the copy is in place, it would
        # delete the new file's. New connections fail until then (no file at the path).
        if self.open_connections <= 0:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._none_open.wait()
        except TimeoutError:
            log.warning("%d connections to the deleted database still open", self.open_connections)
