"""Calls the dialplan fallback served while no router took them, and nobody answered.

The dialplan (`[clinic-router-fallback-end]`, a hang-up handler) leaves one AstDB key per
such call in the family `clinic-router-missed`; AstDB survives Asterisk restarts. The
record is the key itself, because ARI may list AstDB keys but not read values
(`router.ari.astdb`):

    <uniqueid>:<hang-up epoch>:<start epoch>:<DID>:<caller number>

DID and number hold only digits and `+` (the dialplan filters them); the number may be
empty (withheld). Each record becomes a call (its journey) and a miss in the callback
ledger. The key is deleted only once the writes are in the database: the ledger records
a call once, so a record read twice (a failed write, a crash in between) costs nothing,
while a key deleted too early would lose the miss.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from router.ari import astdb
from router.ari.errors import AriError
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase
from router.domain.phone import normalise_caller
from router.engine.call_state import MissFacts
from router.engine.context import CallContext
from router.storage.journal import NewCall
from router.storage.models import CallRow

log = logging.getLogger(__name__)
R = TypeVar("R")

FAMILY = "clinic-router-missed"
LABEL = "fallback_unanswered"
FLUSH_TIMEOUT_S = 10.0
_BATCH = 200  # records written, then deleted, per round
_MAX_WAIT_S = 86_400  # longer is a broken clock, not a call
_CALL_ID = re.compile(r"[A-Za-z0-9._-]{1,150}")  # Asterisk's uniqueid (`[systemname-]epoch.n`)
_EPOCH = re.compile(r"[0-9]{1,11}")  # up to year 5138: datetime takes it
_DIGITS = re.compile(r"\+?[0-9]{0,40}")


@dataclass(frozen=True, slots=True)
class FallbackRecord:
    """One unanswered fallback call, as the dialplan recorded it."""

    call_id: str  # the caller channel's uniqueid: the router's call id for that call
    started_at: datetime
    ended_at: datetime
    did: str  # digits and `+`
    caller: str  # digits and `+`; "" when withheld

    @property
    def waited_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


class BadRecord(ValueError):
    """A key that is no fallback record. The message never holds the caller's number."""


def parse_record(key: str) -> FallbackRecord:
    """Parse one AstDB key of the fallback (raises `BadRecord`, never anything else)."""
    parts = key.split(":")
    if len(parts) != 5:
        raise BadRecord(f"{len(parts)} fields instead of 5")
    call_id, end, start, did, caller = parts
    if not _CALL_ID.fullmatch(call_id):
        raise BadRecord("the call id is not an Asterisk uniqueid")
    if not (_EPOCH.fullmatch(end) and _EPOCH.fullmatch(start)):
        raise BadRecord("the times are not epoch seconds")
    if not 0 <= int(end) - int(start) <= _MAX_WAIT_S:
        raise BadRecord("hung up before the start, or over a day after it")
    if not (_DIGITS.fullmatch(did) and _DIGITS.fullmatch(caller)):
        raise BadRecord("DID or number holds more than digits and '+'")
    return FallbackRecord(
        call_id=call_id,
        started_at=datetime.fromtimestamp(int(start), UTC),
        ended_at=datetime.fromtimestamp(int(end), UTC),
        did=did,
        caller=caller,
    )


async def collect_fallback_misses(ctx: CallContext) -> int:
    """Turn the fallback's records into calls and misses; returns how many were recorded
    and cleared from AstDB.

    Safe to call at any time and concurrently (on every connect, and periodically: a
    frozen router that recovers does not reconnect). Never raises for Asterisk or the
    database being away: what could not be done stays for the next call.
    """
    try:
        keys = await astdb.keys(ctx.ari, FAMILY)
    except AriError as exc:
        where = astdb.ASTDB_CONTEXT
        log.warning("fallback misses not read: %s (is [%s] in the dialplan?)", exc, where)
        return 0
    recorded = dropped = 0
    for first in range(0, len(keys), _BATCH):
        done, bad, written = await _collect_batch(ctx, keys[first : first + _BATCH])
        recorded += done
        dropped += bad
        if not written:
            break  # the database is away: leave the rest for next time
    left = len(keys) - recorded - dropped
    level = logging.INFO if keys else logging.DEBUG
    log.log(
        level,
        "fallback misses: %d recorded, %d unreadable records dropped, %d left for later",
        recorded,
        dropped,
        left,
    )
    return recorded


async def _collect_batch(ctx: CallContext, keys: list[str]) -> tuple[int, int, bool]:
    return await record_batch(ctx, keys, parse_record, _record)


async def record_batch(
    ctx: CallContext,
    keys: list[str],
    parse: Callable[[str], R],
    record_one: Callable[[CallContext, R], None],
    family: str = FAMILY,
) -> tuple[int, int, bool]:
    """Parse, record, wait until written, then delete `keys` of `family`:
    (recorded, dropped, written). `parse` raises `BadRecord` for a key it cannot read."""
    records: list[tuple[str, R]] = []
    bad: list[str] = []
    for key in keys:
        try:
            records.append((key, parse(key)))
        except BadRecord as exc:
            log.warning("fallback record dropped, unreadable: %s", exc)
            bad.append(key)
    failures = ctx.recorder.failures
    for _, record in records:
        record_one(ctx, record)
    # flush() is also True once a write that kept failing was given up: a new failure
    # during it may have been ours, so then every key stays, to be recorded again next
    # time (the ledger ignores the calls it already holds).
    written = await ctx.recorder.flush(FLUSH_TIMEOUT_S) and ctx.recorder.failures == failures
    if not written:
        log.warning("fallback records not confirmed written; kept for the next attempt")
        records = []
    deleted = await delete_keys(ctx, [key for key, _ in records], family)
    dropped = await delete_keys(ctx, bad, family)
    return deleted, dropped, written


class DialplanCall(Protocol):
    """What every fallback record says of its call."""

    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def did(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...


def journal_row(ctx: CallContext, record: DialplanCall, **ended: Any) -> CallRow:
    """The journal's row for a call the fallback served; `ended` says how it ended."""
    line = ctx.rules().line_for(record.did)
    area = line.area_code if line else None
    caller = normalise_caller(record.caller, region=ctx.settings.region, area_code=area)
    return CallRow(
        id=record.call_id,
        app=ctx.settings.app,
        caller_raw=record.caller,
        did=record.did,
        started_at=record.started_at,
        caller_e164=caller.e164,
        line=line.id if line else None,
        rules_version=ctx.rules_version(),
        **ended,
    )


def _record(ctx: CallContext, record: FallbackRecord) -> None:
    """The call's row (its journey; kept as it is when the router knew the call, e.g.
    one it handed to the fallback) and its miss."""
    row = journal_row(
        ctx, record, phase=Phase.ENDED, ended_at=record.ended_at, outcome=Outcome.NO_OPERATOR
    )
    ctx.recorder.record(NewCall(row))
    miss = MissFacts(record.call_id, row.caller_e164, line=row.line)
    ctx.record_miss(miss, MissReason.NO_OPERATOR, record.waited_s, label=LABEL, at=record.ended_at)


async def delete_keys(ctx: CallContext, keys: list[str], family: str = FAMILY) -> int:
    """Delete `keys`; how many were. After a failure the rest wait for next time (they
    are read and recorded again, which changes nothing)."""
    for deleted, key in enumerate(keys):
        try:
            await astdb.delete(ctx.ari, family, key)
        except AriError as exc:
            log.warning("fallback records not deleted (%s); read again next time", exc)
            return deleted
    return len(keys)
