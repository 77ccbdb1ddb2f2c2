"""The rules page (admins): the rules in force, the last rejected edit with every error,
a reload button, and the simulate form, which prints exactly what `clinic-router
simulate` prints for the rules the router runs, the caller looked up in its patient store."""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from router.cli.simulate import Patient, render_text, simulate_with, store_patient
from router.cli.simulate_presses import UsageError
from router.config.live_rules import LiveRules
from router.console.audit_page import audited
from router.console.deps import CONSOLE, ConsoleDeps
from router.console.guard import viewer
from router.console.render import page
from router.domain.console_access import Permission
from router.storage.models import PatientRecord

MAX_FIELD = 80
LOOKUP_TIMEOUT_S = 10.0


def _rules(deps: ConsoleDeps) -> LiveRules:
    if deps.rules is None:
        raise web.HTTPServiceUnavailable(text="The rules are not loaded in this process.")
    return deps.rules


async def rules_page(request: web.Request) -> web.Response:
    viewer(request, Permission.RULES)
    deps = request.app[CONSOLE]
    live = _rules(deps)
    form = await request.post() if request.method == "POST" else {}
    names = ("line", "caller", "at", "press")
    fields = {k: str(form.get(k, "")).strip()[:MAX_FIELD] for k in names}
    output = None
    if request.method == "POST" and fields["line"] and fields["caller"]:
        output = await _simulate(deps, live, fields)
    reloads = [e for e in await deps.audit.recent(limit=200) if e.action == "rules.reload"]
    context = {
        "rules": live.describe(),
        "fields": fields,
        "output": output,
        "last_reload": reloads[0] if reloads else None,
        "lines": [(ln.id, ln.numbers) for ln in live.current.lines],
    }
    return await page(request, "rules.html", context)


async def _simulate(deps: ConsoleDeps, live: LiveRules, fields: dict[str, str]) -> str:
    """`clinic-router simulate` on the rules in force (not the file on disk, which may
    have changed since they were loaded), the patient looked up in the router's store."""
    args = argparse.Namespace(
        line=fields["line"],
        caller=fields["caller"],
        at=fields["at"] or None,
        press=fields["press"].split() if fields["press"] else [],
        operators_state=None,
        patients=None,
        appointment=None,
        format="text",
    )
    rules, loop = live.current, asyncio.get_running_loop()

    def lookup(e164: str) -> list[PatientRecord]:
        # From simulate's worker thread: the store lives on this loop.
        found = deps.store.patients.find_by_phone(e164)
        return asyncio.run_coroutine_threadsafe(found, loop).result(LOOKUP_TIMEOUT_S)

    def find(e164: str | None, _zone: object) -> Patient:
        return store_patient(e164, lookup, deps.database_url)

    try:
        report = await asyncio.to_thread(simulate_with, rules, deps.routing, args, find)
    except UsageError as exc:
        return f"clinic-router simulate: {exc}"
    return render_text(report)


async def reload_rules(request: web.Request) -> web.Response:
    who = viewer(request, Permission.RULES)
    live = _rules(request.app[CONSOLE])
    result = await live.reload(f"console:{who.username}")
    details: dict[str, object] = {"ok": result.ok, "changed": result.changed}
    await audited(request, who, "rules.reload", str(result.version), details)
    raise web.HTTPSeeOther("/console/rules")
