"""The doctor's questions to a live Asterisk: ARI for what ARI can tell, Asterisk's CLI
(when this host has it) for music on hold, which ARI cannot list.

Dialplan functions (`DIALPLAN_EXISTS`, `QUEUE_MEMBER_LIST`) are evaluated on a short-lived
Local channel into `[clinic-router-astdb]`, as the router reads AstDB: ARI's global
`GET /asterisk/variable` evaluates no function (router/ari/astdb.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from router.ari.astdb import ASTDB_CONTEXT
from router.ari.client import AriClient
from router.ari.errors import AriError, AriNotFound
from router.ari.transport import AriHttp
from router.asterisk_config.prompts import prompts_used
from router.config.rules import Rules
from router.config.settings import Settings
from router.doctor import checks
from router.doctor.checks import Finding

log = logging.getLogger(__name__)

# Runs one Asterisk CLI command, returns its output (None: no CLI here).
CliRunner = Callable[[str], "str | None"]
_CHANNEL_TIMEOUT_S = 10


@dataclass(frozen=True)
class DoctorTarget:
    """Where and as whom to ask, and what the answers must match."""

    settings: Settings
    rules: Rules
    moh_class: str = "default"

    @property
    def password_source(self) -> str:
        env = self.settings.ari.password_env
        return f"${env} (router.yaml ari.password_env)" if env else "router.yaml ari.password"


def asterisk_cli(command: str = "asterisk") -> CliRunner:
    """A runner of `<command> -rx ...`; None from it when the CLI cannot be used here."""

    def run(line: str) -> str | None:
        try:
            done = subprocess.run(
                [*shlex.split(command), "-rx", line],
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0 or "Unable to connect" in done.stdout + done.stderr:
            return None
        return done.stdout

    return run


async def run_checks(
    target: DoctorTarget, session: aiohttp.ClientSession, cli: CliRunner | None = None
) -> list[Finding]:
    """Every check, in the checklist's order. Stops after the ARI check when ARI fails."""
    ari_settings = target.settings.ari
    password = ari_settings.password.get_secret_value()
    timeout = ari_settings.request_timeout_s
    http = AriHttp(session, ari_settings.url, ari_settings.username, password, timeout)
    access = checks.ari_finding(ari_settings.url, ari_settings.username, target.password_source, 0)
    try:
        info = await http.request("GET", ("asterisk", "info"))
    except AriError as exc:
        access = checks.ari_finding(
            ari_settings.url, ari_settings.username, target.password_source, exc.status, exc.message
        )
        return [access]
    findings = [
        checks.ari_finding(ari_settings.url, ari_settings.username, target.password_source, None)
    ]
    modules = await _modules(http)
    version = str(((info or {}).get("system") or {}).get("version", "?"))
    findings.append(
        checks.version_finding(
            version, modules.get("app_stasis_broadcast.so", "").lower() == "running"
        )
    )
    findings += checks.module_findings(modules)
    operator_of = {op.endpoint: op.id for op in target.rules.operators}
    findings += checks.endpoint_findings(await _endpoint_states(http, operator_of), operator_of)
    needed = prompts_used(target.settings, target.rules)
    findings += checks.prompt_findings(needed, await _sounds(http, list(needed)))
    ari = AriClient(session, ari_settings.url, ari_settings.username, password, ari_settings.app)
    contexts, members, reason = await _dialplan(ari)
    findings += checks.context_findings(contexts, reason)
    if contexts is not None:
        findings.append(checks.queue_finding(members, list(operator_of)))
    classes = await asyncio.to_thread(_moh_classes, cli) if cli is not None else None
    findings.append(checks.moh_finding(classes, target.moh_class))
    return findings


async def _modules(http: AriHttp) -> dict[str, str]:
    try:
        data = await http.request("GET", ("asterisk", "modules"))
    except AriError as exc:
        log.debug("module list unavailable: %s", exc)
        return {}
    return {
        str(item.get("name")): str(item.get("status", ""))
        for item in data or []
        if isinstance(item, dict)
    }


async def _endpoint_states(http: AriHttp, operator_of: dict[str, str]) -> dict[str, str | None]:
    states: dict[str, str | None] = {}
    for endpoint in operator_of:
        tech, name = checks.endpoint_resource(endpoint)
        try:
            data = await http.request("GET", ("endpoints", tech, name))
        except AriNotFound:
            states[endpoint] = None
            continue
        except AriError as exc:  # 400 for a technology Asterisk does not have
            log.debug("endpoint %s: %s", endpoint, exc)
            states[endpoint] = None
            continue
        states[endpoint] = str((data or {}).get("state", "unknown"))
    return states


async def _sounds(http: AriHttp, names: Sequence[str]) -> dict[str, list[str] | None]:
    found: dict[str, list[str] | None] = {}
    for name in names:
        try:
            data = await http.request("GET", ("sounds", name))
        except AriNotFound:
            found[name] = None
            continue
        formats = (data or {}).get("formats") or []
        found[name] = [str(f.get("language")) for f in formats if isinstance(f, dict)]
    return found


async def _dialplan(
    ari: AriClient,
) -> tuple[dict[str, bool] | None, list[str] | None, str]:
    """(context -> exists, fallback queue members or None, why the dialplan was not asked)."""
    channel_id = f"doctor-{uuid.uuid4().hex}"
    try:
        await ari.originate_to_dialplan(
            f"Local/s@{ASTDB_CONTEXT}",
            context=ASTDB_CONTEXT,
            extension="s",
            channel_id=channel_id,
            timeout_s=_CHANNEL_TIMEOUT_S,
        )
    except AriError as exc:
        return None, None, f"no [{ASTDB_CONTEXT}] to ask through ({exc.message})"
    try:
        contexts = {
            name: await ari.get_variable(channel_id, f"DIALPLAN_EXISTS({name})") == "1"
            for name in checks.CONTEXTS
        }
        members = await _queue_members(ari, channel_id)
    except AriError as exc:
        return None, None, f"the helper channel failed ({exc.message})"
    finally:
        try:
            await ari.hangup(channel_id)
        except AriError:
            pass  # gone already; the dialplan's Wait(10) ends it anyway
    return contexts, members, ""


async def _queue_members(ari: AriClient, channel_id: str) -> list[str] | None:
    queue = checks.FALLBACK_QUEUE
    try:
        exists = await ari.get_variable(channel_id, f"QUEUE_EXISTS({queue})")
        if exists != "1":
            return None
        listed = await ari.get_variable(channel_id, f"QUEUE_MEMBER_LIST({queue})") or ""
    except AriNotFound:
        raise
    except AriError:  # app_queue not loaded: the functions do not exist
        return None
    return [m for m in listed.split(",") if m]


def _moh_classes(cli: CliRunner) -> list[str] | None:
    output = cli("moh show classes")
    if output is None:
        return None
    return re.findall(r"^Class:\s*(\S+)", output, re.M)
