"""The doctor's judgements: facts probed from Asterisk in, findings with their fix out.

Pure: no I/O, so every failure and its advice is unit-tested with plain values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail", "skip"]
FALLBACK_QUEUE = "clinic-router-fallback"
CONTEXTS = (
    "clinic-router-inbound",
    "clinic-router-entry",
    "clinic-router-fallback",
    "clinic-router-fallback-answered",
    "clinic-router-fallback-end",
    "clinic-router-astdb",
    "clinic-router-operators",
)
# Module -> what needs it. Debian's asterisk-modules package has them all.
REQUIRED_MODULES: Mapping[str, str] = {
    "res_ari.so": "ARI itself",
    "res_stasis.so": "Stasis applications",
    "res_http_websocket.so": "the router's event socket",
    "res_ari_channels.so": "call control",
    "res_ari_bridges.so": "bridges (hold, connect)",
    "res_ari_events.so": "claiming calls (StasisBroadcast)",
    "res_ari_endpoints.so": "operator phones' state",
    "res_ari_sounds.so": "the prompt check",
    "app_stasis.so": "the operators' feature codes",
    "app_stasis_broadcast.so": "handing calls to a live router (StasisBroadcast)",
    "app_queue.so": "the fallback queue",
    "app_dial.so": "the fallback's Dial()",
    "app_playback.so": "the fallback's message",
    "func_db.so": "the fallback's missed-call records (AstDB)",
    "func_global.so": "SHARED(), marking answered fallback calls",
    "func_channel.so": "CHANNEL(hangup_handler_push)",
    "func_strings.so": "FILTER() of caller data",
    "res_musiconhold.so": "music for waiting callers",
    "chan_pjsip.so": "PJSIP phones",
    "bridge_simple.so": "two-party bridges",
}
_STASIS_BROADCAST_SINCE = (22, 7)


@dataclass(frozen=True)
class Finding:
    """One line of the checklist; `fix` says what to change when it is not ok."""

    check: str
    status: Status
    detail: str = ""
    fix: str = ""


def ari_finding(
    url: str, user: str, password_source: str, status: int | None, message: str = ""
) -> Finding:
    """`status`: the HTTP status of `GET /asterisk/info` (None: it answered 200, 0: no answer)."""
    check = f"ARI at {url} as '{user}'"
    if status is None:
        return Finding(check, "ok", "reachable, credentials accepted")
    if status == 0:
        return Finding(
            check,
            "fail",
            f"nothing answers ({message})",
            "http.conf [general]: enabled = yes, and bindaddr/bindport matching ari.url in"
            " router.yaml (clinic-router asterisk-config --apply writes"
            " clinic-router-http.conf); is Asterisk running?",
        )
    if status in (401, 403):
        return Finding(
            check,
            "fail",
            f"HTTP {status}: user or password refused",
            f"ari.conf [{user}]: password must equal {password_source}, and type = user"
            " (clinic-router asterisk-config --apply writes clinic-router-ari.conf)",
        )
    if status == 404:
        return Finding(
            check,
            "fail",
            "HTTP answers, but there is no ARI (404)",
            "ari.conf [general]: enabled = yes (a second [general] in ari.conf makes Asterisk"
            " reject the whole file: use [general](+)); module res_ari.so loaded; ari.url in"
            " router.yaml ends in /ari",
        )
    return Finding(check, "fail", f"HTTP {status}: {message}", "see Asterisk's log")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`22.10.1+dfsg+~cs6...` -> (22, 10, 1); None for a version not like that (a git build)."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def version_finding(version: str, broadcast_loaded: bool) -> Finding:
    check = f"Asterisk {version} has StasisBroadcast"
    if broadcast_loaded:
        return Finding(check, "ok", "app_stasis_broadcast.so is loaded")
    parsed = parse_version(version)
    if parsed is not None and parsed[:2] < _STASIS_BROADCAST_SINCE:
        return Finding(
            check,
            "fail",
            "StasisBroadcast arrived in Asterisk 22.7",
            "upgrade Asterisk to 22.7 or newer: without it no call reaches the router",
        )
    return Finding(
        check,
        "fail",
        "app_stasis_broadcast.so is not loaded",
        "asterisk -rx 'module load app_stasis_broadcast.so'; remove any"
        " `noload => app_stasis_broadcast.so` from modules.conf",
    )


def module_findings(loaded: Mapping[str, str]) -> list[Finding]:
    """`loaded`: module file name -> status as `GET /asterisk/modules` gives it."""
    findings = []
    for module, why in REQUIRED_MODULES.items():
        status = loaded.get(module)
        if status is not None and status.lower() == "running":
            findings.append(Finding(f"module {module}", "ok", why))
            continue
        fix = (
            f"asterisk -rx 'module load {module}' and keep modules.conf free of"
            f" `noload => {module}`"
        )
        if module == "app_queue.so":
            fix += "; Asterisk skips app_queue while queues.conf is missing"
            fix += " (clinic-router asterisk-config --apply creates it)"
        shown = "not loaded" if status is None else f"status {status}"
        findings.append(Finding(f"module {module}", "fail", f"{shown}: needed for {why}", fix))
    return findings


def endpoint_resource(endpoint: str) -> tuple[str, str]:
    """(technology, endpoint name) of an operator's dial string: PJSIP/101 -> (PJSIP, 101)."""
    tech, _, resource = endpoint.partition("/")
    name, at, host = resource.partition("@")
    if tech.upper() == "PJSIP" and at:
        return tech, host  # PJSIP/<user>@<endpoint>
    return tech, name


def endpoint_findings(
    states: Mapping[str, str | None], operator_of: Mapping[str, str]
) -> list[Finding]:
    """`states`: dial string -> ARI endpoint state (online/offline/unknown), None if none."""
    findings = []
    for endpoint, state in states.items():
        who = operator_of.get(endpoint, "?")
        check = f"operator {who}: {endpoint}"
        tech, name = endpoint_resource(endpoint)
        if state is None:
            findings.append(
                Finding(
                    check,
                    "fail",
                    f"Asterisk has no {tech} endpoint '{name}'",
                    f"fix operators[{who}].endpoint in rules.yaml, or define '{name}' in"
                    " pjsip.conf; calls to this operator fail",
                )
            )
        elif state == "online":
            findings.append(Finding(check, "ok", "online"))
        elif state == "offline":
            findings.append(
                Finding(
                    check,
                    "warn",
                    "offline (not registered, or not answering qualify)",
                    "check the phone; until it is back the router skips it",
                )
            )
        else:
            findings.append(
                Finding(
                    check,
                    "warn",
                    f"state {state or 'unknown'}",
                    "set qualify_frequency (e.g. 30) on its AOR so Asterisk knows when the"
                    " phone is unreachable",
                )
            )
    return findings


def prompt_findings(
    needed: Mapping[str, Sequence[str]], available: Mapping[str, Iterable[str] | None]
) -> list[Finding]:
    """`available`: sound name -> languages Asterisk has it in (None: no such sound)."""
    findings = []
    for name, languages in needed.items():
        have = set(available.get(name) or ())
        missing = [lang for lang in languages if lang not in have]
        if not missing:
            findings.append(Finding(f"prompt {name}", "ok", ", ".join(languages)))
            continue
        stock = name.startswith(("queue-", "vm-"))
        fix = (
            f"apt-get install asterisk-core-sounds-{missing[0]}"
            if stock
            else f"record it as sounds/{missing[0]}/{name}.wav (clinic-router prompts list;"
            " prompts generate --out makes spoken stand-ins)"
        )
        findings.append(
            Finding(
                f"prompt {name}",
                "fail",
                f"missing in {', '.join(missing)}: callers hear silence instead",
                fix,
            )
        )
    return findings


def moh_finding(classes: Sequence[str] | None, moh_class: str) -> Finding:
    check = f"music on hold class '{moh_class}'"
    if classes is None:
        return Finding(
            check, "skip", "needs Asterisk's CLI on this host (run doctor as root there)"
        )
    if moh_class in classes:
        return Finding(check, "ok", "loaded")
    return Finding(
        check,
        "fail",
        "not loaded: waiting callers hear silence",
        "apt-get install asterisk-moh-opsound-wav (or -gsm); musiconhold.conf needs the class"
        " (clinic-router asterisk-config --apply adds one); then restart Asterisk: a class"
        " that started without files stays off until a restart",
    )


def context_findings(present: Mapping[str, bool] | None, reason: str = "") -> list[Finding]:
    """`present`: context -> it exists; None when the dialplan could not be asked."""
    fix = (
        "add `#include clinic-router-extensions.conf` to extensions.conf"
        " (clinic-router asterisk-config --apply), then `dialplan reload`"
    )
    if present is None:
        return [Finding("dialplan contexts", "fail", reason or "cannot be checked", fix)]
    missing = [name for name, ok in present.items() if not ok]
    if missing:
        return [Finding("dialplan contexts", "fail", "missing: " + ", ".join(missing), fix)]
    return [Finding("dialplan contexts", "ok", ", ".join(present))]


def queue_finding(members: Sequence[str] | None, expected: Sequence[str]) -> Finding:
    """`members`: the fallback queue's member interfaces (None: no such queue)."""
    check = f"fallback queue {FALLBACK_QUEUE}"
    fix = (
        "re-run clinic-router asterisk-config --apply (it writes the members from the rules"
        " into clinic-router-queues.conf and reloads app_queue)"
    )
    if members is None:
        return Finding(check, "fail", "no such queue: without the router callers hear silence", fix)
    have = {m.upper() for m in members}
    want = {e.upper() for e in expected}
    if have == want:
        return Finding(check, "ok", f"{len(members)} members, as the rules list")
    parts = []
    if want - have:
        parts.append("missing " + ", ".join(sorted(want - have)))
    if have - want:
        parts.append("not in the rules " + ", ".join(sorted(have - want)))
    # An operator missing from the queue is never rung without the router: a failure. A
    # phone the rules no longer list is still rung: a drift to fix, not an outage.
    return Finding(check, "fail" if want - have else "warn", "; ".join(parts), fix)
