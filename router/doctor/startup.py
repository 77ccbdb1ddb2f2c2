"""The doctor's checks when the router starts: each failure logged once, as a warning
(a phone that is merely offline at info).

Runs beside the router (it never delays a call): a PBX that is misconfigured still gets
its calls routed as well as it can, and the log says what to fix. Asterisk's CLI is not
used (the router's user may not reach it), so music on hold is left to `doctor`.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from router.ari.errors import AriError
from router.config.rules import Rules
from router.config.settings import Settings
from router.doctor.checks import Finding
from router.doctor.probe import DoctorTarget, run_checks

log = logging.getLogger(__name__)
_BUDGET_S = 60.0  # a PBX this slow to answer shows in the ARI connection's own log


async def log_pbx_problems(
    settings: Settings, rules: Rules, session: aiohttp.ClientSession
) -> list[Finding]:
    """Run the checks once; log every failure and warning (with its fix) once."""
    try:
        async with asyncio.timeout(_BUDGET_S):
            findings = await run_checks(DoctorTarget(settings, rules), session)
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
    return problems
