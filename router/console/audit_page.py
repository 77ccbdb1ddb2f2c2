"""The audit log page (admins): newest first, a page of 200, filter by user."""

from __future__ import annotations

from aiohttp import web

from router.console.deps import CONSOLE
from router.console.guard import viewer
from router.console.render import page
from router.console.session import Viewer
from router.domain.console_access import Permission
from router.storage.audit import AuditEntry

PAGE = 200


async def audit_page(request: web.Request) -> web.Response:
    """GET: the newest entries (`?before=` pages back). A user name to filter by comes
    in a POST body only, never in the address."""
    viewer(request, Permission.AUDIT)
    form = await request.post() if request.method == "POST" else request.query
    actor = (str(form.get("actor", "")).strip() or None) if request.method == "POST" else None
    before = str(form.get("before", ""))
    before_id = int(before) if before and before.isdigit() else None
    entries = await request.app[CONSOLE].audit.recent(limit=PAGE, before_id=before_id, actor=actor)
    older = entries[-1].id if len(entries) == PAGE else None
    return await page(
        request, "audit.html", {"entries": entries, "actor": actor or "", "older": older}
    )


async def audited(
    request: web.Request, who: Viewer, action: str, target: str, details: dict[str, object]
) -> None:
    """Record one console action of `who` in the audit log (with the request's address)."""
    entry = AuditEntry(who.username, action, target=target, remote=request.remote, details=details)
    await request.app[CONSOLE].audit.record(entry)
