"""The open calls in the database as the journal will leave them: what ARI mode's
reconcile (`reconcile.py`) and AGI mode's resync at an AMI login (`router/ami/records.py`)
settle after a reconnect or a restart. One rule for both modes."""

from __future__ import annotations

import logging

from router.engine.context import CallContext
from router.storage.models import CallRow

log = logging.getLogger(__name__)


async def open_calls_as_written(
    ctx: CallContext, app: str, flush_s: float, who: str
) -> list[CallRow]:
    """The open calls of `app`, as if the journal's queued writes had landed (waited for at
    most `flush_s`): a call that ended here just before the disconnect may have its outcome
    still queued, its row still open, and closed again from that row it had two, the last
    written winning. When the writes do not land in time (a slow database) only the calls
    with writes still queued are left out, to those writes: after a restart the journal
    holds nothing about calls, and a slow database must not cost the previous process's
    callers their adoption, nor leave one who hung up meanwhile open. `who` names the
    reader in the log. A failed read raises (the database's own error)."""
    behind = frozenset[str]()
    if not await ctx.recorder.flush(flush_s):
        behind = ctx.recorder.queued_calls()
    rows = await ctx.store.calls.open_calls(app)
    stale = [row.id for row in rows if row.id in behind]
    if stale:
        log.warning("%s: calls %s left to their writes still queued", who, stale)
    return [row for row in rows if row.id not in behind]
