"""Calls the dialplan fallback served while no router took them, and an operator answered.

The fallback's hang-up handler (`[clinic-router-fallback-end]`) leaves one AstDB key per
such call in the family `clinic-router-served`:

    <uniqueid>:<hang-up epoch>:<start epoch>:<answer epoch>:<DID>:<caller number>:<endpoint>

(`<endpoint>` is the answering phone's PJSIP endpoint name, letters, digits, `_` and `.`
only). Each becomes a call in the journal, answered, with a `served_by` step saying the
fallback served it, who answered and how long they talked, so `GET /api/calls` and every
report see every call. As with the misses (router/engine/fallback_misses.py) a key is
deleted only once its writes are in the database; a record read twice changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from router.ari import astdb
from router.ari.errors import AriError
from router.doctor.checks import endpoint_resource
from router.domain.calls import Outcome, Phase
from router.engine.context import CallContext
from router.engine.fallback_misses import (
    _CALL_ID,
    _DIGITS,
    _EPOCH,
    _MAX_WAIT_S,
    BadRecord,
    journal_row,
    record_batch,
)
from router.storage.journal import CallEvent, CallUpdate, NewCall

log = logging.getLogger(__name__)

FAMILY = "clinic-router-served"
_ENDPOINT = re.compile(r"[0-9A-Za-z_.]{0,80}")


@dataclass(frozen=True, slots=True)
class ServedRecord:
    call_id: str
    started_at: datetime
    answered_at: datetime
    ended_at: datetime
    did: str
    caller: str
    endpoint: str  # the answering endpoint's name ("" when Asterisk gave none)


def parse_served(key: str) -> ServedRecord:
    """Parse one key (raises `BadRecord`, never anything else; never quotes the number)."""
    parts = key.split(":")
    if len(parts) != 7:
        raise BadRecord(f"{len(parts)} fields instead of 7")
    call_id, end, start, answer, did, caller, endpoint = parts
    if not _CALL_ID.fullmatch(call_id):
        raise BadRecord("the call id is not an Asterisk uniqueid")
    if not all(_EPOCH.fullmatch(t) for t in (end, start, answer)):
        raise BadRecord("the times are not epoch seconds")
    if not int(start) <= int(answer) <= int(end) <= int(start) + _MAX_WAIT_S:
        raise BadRecord("times out of order, or over a day apart")
    if not (_DIGITS.fullmatch(did) and _DIGITS.fullmatch(caller)):
        raise BadRecord("DID or number holds more than digits and '+'")
    if not _ENDPOINT.fullmatch(endpoint):
        raise BadRecord("the endpoint name holds unexpected characters")

    def at(epoch: str) -> datetime:
        return datetime.fromtimestamp(int(epoch), UTC)

    return ServedRecord(call_id, at(start), at(answer), at(end), did, caller, endpoint)


async def collect_fallback_served(ctx: CallContext) -> int:
    """Journal the fallback's answered calls; returns how many were recorded and cleared.
    Never raises for Asterisk or the database being away: the rest waits for next time."""
    try:
        keys = await astdb.keys(ctx.ari, FAMILY)
    except AriError as exc:
        log.warning("fallback-served calls not read: %s", exc)
        return 0
    if not keys:
        return 0
    recorded, _, _ = await record_batch(ctx, keys, parse_served, _record, FAMILY)
    log.info("fallback-served calls: %d journaled", recorded)
    return recorded


def _operator_of(ctx: CallContext, endpoint: str) -> str | None:
    for op in ctx.rules().operators:
        if endpoint and endpoint_resource(op.endpoint)[1] == endpoint:
            return op.id
    return None


def _record(ctx: CallContext, record: ServedRecord) -> None:
    operator_id = _operator_of(ctx, record.endpoint)
    answered = {
        "phase": Phase.ENDED,
        "outcome": Outcome.ANSWERED,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "operator_id": operator_id,
    }
    row = journal_row(ctx, record, **answered)
    ctx.recorder.record(NewCall(row))
    # A call the router knew (it handed it to the fallback) keeps its row: update it.
    ctx.recorder.record(CallUpdate(record.call_id, answered))
    data = {
        "served_by": "fallback",
        "operator_id": operator_id,
        "endpoint": record.endpoint,
        "waited_s": (record.answered_at - record.started_at).total_seconds(),
        "talk_s": (record.ended_at - record.answered_at).total_seconds(),
    }
    ctx.recorder.record(CallEvent(record.call_id, "served_by", data, record.answered_at))
