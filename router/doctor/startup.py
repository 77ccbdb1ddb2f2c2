"""The doctor's checks when the router starts: each failure logged once, as a warning
(a phone that is merely offline at info).

Runs beside the router (it never delays a call): a PBX that is misconfigured still gets
its calls routed as well as it can, and the log says what to fix. Music on hold is the
one check ARI cannot answer (it lists no classes): it asks Asterisk's CLI, as `doctor`
does, when this host has one the router may use; when not (a router on another host, or
a user that may not open Asterisk's control socket) it says so once, at info.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Literal

import aiohttp

from router.ari.errors import AriError
from router.config.rules import Rules
from router.config.settings import Settings
from router.doctor.checks import Finding
from router.doctor.probe import CliRunner, DoctorTarget, asterisk_cli, run_checks

log = logging.getLogger(__name__)
_BUDGET_S = 60.0  # a PBX this slow to answer shows in the ARI connection's own log


def local_cli() -> CliRunner | None:
    """Asterisk's CLI on this host (None without one; the runner itself answers None
    when the control socket refuses this user)."""
    return asterisk_cli() if shutil.which("asterisk") else None


async def log_pbx_problems(
    settings: Settings,
    rules: Rules,
    session: aiohttp.ClientSession,
    cli: CliRunner | Literal["local"] | None = "local",
) -> list[Finding]:
    """Run the checks once; log every failure and warning (with its fix) once, and a
    check that could not run from here at info. `cli`: Asterisk's CLI, for music on hold
    ("local": this host's, when it has one)."""
    if cli == "local":
        cli = local_cli()
    try:
        async with asyncio.timeout(_BUDGET_S):
            findings = await run_checks(DoctorTarget(settings, rules), session, cli)
    except TimeoutError:
        log.warning(
            "PBX checks did not finish within %.0f s; run `clinic-router doctor`", _BUDGET_S
        )
        return []
    except AriError as exc:  # Asterisk went away mid-check (a restart): the event socket tells
        log.warning("PBX checks could not finish (%s); run `clinic-router doctor`", exc)
        return []
    except Exception:  # a fault in a check must never stop the router (CancelledError passes)
        log.exception("PBX checks failed; run `clinic-router doctor`")
        return []
    problems = [f for f in findings if f.status in ("fail", "warn")]
    for finding in problems:
        # A phone that is off (a warn) is daily life, not a misconfiguration: info.
        level = logging.WARNING if finding.status == "fail" else logging.INFO
        log.log(level, "PBX check: %s: %s; fix: %s", finding.check, finding.detail, finding.fix)
    for finding in findings:
        if finding.status == "skip":
            log.info("PBX check: %s: not checked: %s", finding.check, finding.detail)
    return problems
