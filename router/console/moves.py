"""A supervisor moves a waiting caller to another queue or to a named operator, from
the wallboard's list of callers waiting (audited as `caller.move`).

The console only hands the request to the call (`Engine.move_waiting`); the call's own
coroutine acts on it while it waits and journals `moved` with who asked.
"""

from __future__ import annotations

import re

from aiohttp import web

from router.console.deps import CONSOLE
from router.console.guard import viewer
from router.domain.console_access import Permission
from router.engine.moves import MoveRequest
from router.storage.audit import AuditEntry

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


async def move_caller(request: web.Request) -> web.Response:
    """POST `queue=<queue id>` or `operator=<operator id>` (a fetch with the CSRF header)."""
    who = viewer(request, Permission.SUPERVISE)
    deps = request.app[CONSOLE]
    call_id = request.match_info["call_id"]
    form = await request.post()
    queue = str(form.get("queue", "")).strip() or None
    operator = str(form.get("operator", "")).strip() or None
    if (queue is None) == (operator is None) or not _ID.fullmatch(queue or operator or ""):
        raise web.HTTPBadRequest(text="Name one queue or one operator to move the caller to.")
    if deps.rules is not None:
        rules = deps.rules.current
        if queue is not None and queue not in rules.queues:
            known = ", ".join(sorted(rules.queues)) or "none"
            raise web.HTTPBadRequest(text=f"No queue {queue!r} (known: {known}).")
        if operator is not None and operator not in {op.id for op in rules.operators}:
            raise web.HTTPBadRequest(text=f"No operator {operator!r} in the rules.")
    if deps.move is None:
        raise web.HTTPServiceUnavailable(text="Moving callers needs the live engine.")
    move = MoveRequest(f"console:{who.username}", queue=queue, operator=operator)
    done = deps.move(call_id, move)
    details: dict[str, object] = {"ok": done, "queue": queue, "operator": operator}
    entry = AuditEntry(
        who.username,
        "caller.move",
        ok=done,
        target=call_id,
        remote=request.remote,
        details=details,
    )
    await deps.audit.record(entry)
    if not done:
        raise web.HTTPConflict(text="That caller is no longer waiting.")
    return web.Response(status=204)
