"""`GET /health`'s verdict: can the router take calls, and is what it records being stored?

The status is "ok" only when ARI is connected, the database answers at its configured
place and writes land. The HTTP code is 503 only when ARI is down: with the database
away the router still serves every call and holds the writes in memory, and a watchdog
that restarted it for that would throw the held writes away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from router.engine.recorder import WriteHealth


@dataclass(frozen=True, slots=True)
class StorageState:
    """The database's side of the verdict, as /health and /metrics both read it."""

    reachable: bool
    file_problem: str | None  # the SQLite file is not the one opened
    writes: WriteHealth | None  # None: no journal writer (a bare API in tests)

    @property
    def problems(self) -> list[str]:
        found = [] if self.reachable or self.file_problem else ["database not reachable"]
        if self.file_problem:
            found.append(self.file_problem)
        if self.writes is not None and self.writes.problem:
            found.append(self.writes.problem)
        return found

    @property
    def storing(self) -> bool:
        """Whether what the router records now reaches the database."""
        return not self.problems


def health_body(
    *, ari_connected: bool, storage: StorageState, rules_version: str | None, backlog: int
) -> dict[str, object]:
    problems = ([] if ari_connected else ["ARI not connected"]) + storage.problems
    body: dict[str, object] = {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "ari_connected": ari_connected,
        "database_reachable": storage.reachable,
        "database_storing": storage.storing,
        "rules_version": rules_version,
        "journal_backlog": backlog,
    }
    if storage.writes is not None:
        body["journal"] = _journal_json(storage.writes)
    return body


def _journal_json(writes: WriteHealth) -> dict[str, object]:
    dropped: dict[str, dict[str, int]] = {}
    for (kind, why), count in sorted(writes.dropped.items()):
        dropped.setdefault(why, {})[kind.value] = count
    last = writes.last_write_at
    return {
        "backlog_max": writes.backlog_max,
        "last_write_at": None if last is None else datetime.fromtimestamp(last, UTC),
        "consecutive_failures": writes.consecutive_failures,
        "failing_for_s": None if writes.failing_for_s is None else round(writes.failing_for_s, 1),
        "last_error": writes.last_error,
        "dropped": dropped,
    }
