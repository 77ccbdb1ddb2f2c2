"""`clinic-router doctor`: the checklist against the live PBX, with the fix for each failure.

Exit codes: 0 nothing failed (warnings allowed), 1 something failed, 2 bad settings or rules.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import aiohttp

from router.asterisk_config.cli import add_env_file_argument, inputs_of
from router.doctor.checks import Finding
from router.doctor.probe import DoctorTarget, asterisk_cli, run_checks

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def add_doctor_parser(subparsers: Any, default_config: str) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the PBX against the settings and rules, with the fix for each"
    )
    parser.add_argument("--config", default=default_config, help="settings (router.yaml)")
    add_env_file_argument(parser)
    parser.add_argument(
        "--asterisk",
        default="asterisk",
        help="command that runs Asterisk's CLI, for music on hold ('' to skip)",
    )
    parser.add_argument("--verbose", action="store_true", help="list the passed checks too")


def render(findings: Sequence[Finding], *, verbose: bool = False) -> str:
    """The checklist: problems with their fix; passed checks counted (listed if verbose)."""
    lines = []
    for finding in findings:
        if finding.status == "ok" and not verbose:
            continue
        lines.append(f"{MARKS[finding.status]} {finding.check}: {finding.detail}")
        if finding.fix and finding.status in ("fail", "warn"):
            lines.append(f"     fix: {finding.fix}")
    counts = {status: sum(f.status == status for f in findings) for status in MARKS}
    lines.append(
        f"{counts['ok']} passed, {counts['warn']} warnings, {counts['fail']} failed"
        + (f", {counts['skip']} skipped" if counts["skip"] else "")
    )
    return "\n".join(lines) + "\n"


async def run_doctor(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    inputs = inputs_of(args, err)
    if inputs is None:
        return 2
    settings, rules = inputs
    command = args.asterisk
    cli = asterisk_cli(command) if command and shutil.which(command.split()[0]) else None
    async with aiohttp.ClientSession() as session:
        findings = await run_checks(DoctorTarget(settings, rules), session, cli)
    out.write(render(findings, verbose=args.verbose))
    return 1 if any(f.status == "fail" for f in findings) else 0
