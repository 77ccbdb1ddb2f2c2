"""`GET /api/audit`: the console's audit log for machines (the bearer token guards it)."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from router.http.json_io import int_param, json_response
from router.storage.audit import AuditEntry, AuditRepository

AUDIT = web.AppKey("audit_log", AuditRepository)


def add_audit_routes(app: web.Application, repo: AuditRepository) -> None:
    app[AUDIT] = repo
    app.router.add_get("/api/audit", list_audit)


def audit_json(entry: AuditEntry) -> dict[str, object]:
    return {**asdict(entry), "details": dict(entry.details)}


async def list_audit(request: web.Request) -> web.Response:
    """Newest first; `limit` (1-500), `before_id` to page back, `actor` to filter."""
    limit = int_param(request, "limit", 100, 1, 500)
    before = int_param(request, "before_id", 0, 0, 2**62) or None
    entries = await request.app[AUDIT].recent(
        limit=limit, before_id=before, actor=request.query.get("actor") or None
    )
    last = entries[-1].id if len(entries) == limit else None
    return json_response({"entries": [audit_json(e) for e in entries], "next_before_id": last})
