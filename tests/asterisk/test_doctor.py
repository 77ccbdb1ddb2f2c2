"""`clinic-router doctor` against the real sandbox Asterisk: a healthy setup passes, and
each broken one (wrong password, no ARI, nothing listening, a missing endpoint, prompt,
module or music-on-hold class) is reported with its fix."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from router.config.rules import load_rules
from router.config.settings import load_settings
from router.doctor.checks import Finding
from router.doctor.probe import DoctorTarget, run_checks
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import ARI_PASSWORD, OPERATORS

pytestmark = pytest.mark.asterisk

RULES_HEAD = """format: 1
skills: {paid: Paid}
operators:
"""
MENU = """lines:
  - {id: main, numbers: ["100"], language: ru, routes: main}
routes:
  main:
    - {name: all, then: {menu: start}}
menus:
  start:
    prompt: %s
    options:
      - {key: "1", label: Paid, then: {callback: {}}}
"""


def write_setup(
    folder: Path, *, endpoints: list[str], prompt: str = "clinic-main-menu", url: str = ""
) -> DoctorTarget:
    operators = "".join(
        f"  - {{id: o{i}, name: O{i}, endpoint: {e}, skills: {{paid: 3}}}}\n"
        for i, e in enumerate(endpoints)
    )
    (folder / "rules.yaml").write_text(RULES_HEAD + operators + MENU % prompt)
    (folder / "router.yaml").write_text(f"ari: {{url: '{url or 'http://127.0.0.1:8088/ari'}'}}\n")
    settings = load_settings(
        folder / "router.yaml", env={"CLINIC_ROUTER_ARI_PASSWORD": ARI_PASSWORD}, secrets=False
    )
    return DoctorTarget(settings, load_rules(settings.routing.rules))


async def doctor(
    target: DoctorTarget, sandbox: Sandbox | None = None, *, password: str | None = None
) -> list[Finding]:
    if password is not None:
        ari = target.settings.ari.model_copy(update={"password": SecretStr(password)})
        target = DoctorTarget(target.settings.model_copy(update={"ari": ari}), target.rules)
    cli: Callable[[str], str | None] | None = sandbox.cli if sandbox is not None else None
    async with aiohttp.ClientSession() as session:
        return await run_checks(target, session, cli)


def by_check(findings: list[Finding], start: str) -> Finding:
    [found] = [f for f in findings if f.check.startswith(start)]
    return found


@pytest.fixture
def sandbox_ops() -> list[str]:
    return [f"PJSIP/{name}" for name in OPERATORS]


async def test_the_sandbox_passes(sandbox: Sandbox, tmp_path: Path, sandbox_ops: list[str]) -> None:
    findings = await doctor(write_setup(tmp_path, endpoints=sandbox_ops), sandbox)
    failed = [f for f in findings if f.status == "fail"]
    assert failed == []
    assert by_check(findings, "ARI at").status == "ok"
    assert by_check(findings, "Asterisk 22").status == "ok"
    assert by_check(findings, "dialplan contexts").status == "ok"
    assert by_check(findings, "fallback queue").status == "ok"
    assert by_check(findings, "music on hold").status == "ok"
    assert by_check(findings, "prompt clinic-main-menu").status == "ok"
    states = {f.check: f.status for f in findings if f.check.startswith("operator ")}
    assert len(states) == len(OPERATORS) and set(states.values()) <= {"ok", "warn"}


async def test_wrong_password_names_ari_conf(sandbox: Sandbox, tmp_path: Path) -> None:
    target = write_setup(tmp_path, endpoints=["PJSIP/op1001"])
    [finding] = await doctor(target, password="not-the-password")
    assert finding.status == "fail" and "401" in finding.detail
    assert "ari.conf [clinic-router]" in finding.fix and "CLINIC_ROUTER_ARI_PASSWORD" in finding.fix


async def test_no_ari_at_that_address(sandbox: Sandbox, tmp_path: Path) -> None:
    target = write_setup(tmp_path, endpoints=["PJSIP/op1001"], url="http://127.0.0.1:8088/nope")
    [finding] = await doctor(target)
    assert finding.status == "fail" and "404" in finding.detail
    assert "ari.conf [general]: enabled = yes" in finding.fix
    nothing = write_setup(tmp_path, endpoints=["PJSIP/op1001"], url="http://127.0.0.1:9/ari")
    [finding] = await doctor(nothing)
    assert finding.status == "fail" and "nothing answers" in finding.detail
    assert "http.conf [general]" in finding.fix


async def test_missing_endpoint_prompt_and_queue_members(sandbox: Sandbox, tmp_path: Path) -> None:
    target = write_setup(
        tmp_path, endpoints=["PJSIP/op1001", "PJSIP/101"], prompt="clinic-no-such-prompt"
    )
    findings = await doctor(target, sandbox)
    endpoint = by_check(findings, "operator o1: PJSIP/101")
    assert endpoint.status == "fail" and "no PJSIP endpoint '101'" in endpoint.detail
    assert "rules.yaml" in endpoint.fix and "pjsip.conf" in endpoint.fix
    prompt = by_check(findings, "prompt clinic-no-such-prompt")
    assert prompt.status == "fail" and "ru" in prompt.detail
    assert "sounds/ru/clinic-no-such-prompt.wav" in prompt.fix
    queue = by_check(findings, "fallback queue")
    assert queue.status == "fail" and "missing PJSIP/101" in queue.detail
    assert "not in the rules" in queue.detail  # the sandbox's op1002..op1008


async def test_no_moh_class(sandbox: Sandbox, tmp_path: Path) -> None:
    target = write_setup(tmp_path, endpoints=["PJSIP/op1001"])
    target = DoctorTarget(target.settings, target.rules, moh_class="clinic-none")
    finding = by_check(await doctor(target, sandbox), "music on hold")
    assert finding.status == "fail" and "asterisk-moh-opsound" in finding.fix


async def test_a_module_unloaded(sandbox: Sandbox, tmp_path: Path) -> None:
    module = "app_playback.so"
    target = write_setup(tmp_path, endpoints=["PJSIP/op1001"])
    await asyncio.to_thread(sandbox.cli, f"module unload {module}")
    try:
        deadline = time.monotonic() + 10
        while True:
            finding = by_check(await doctor(target), f"module {module}")
            if finding.status == "fail" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)  # the unload completes asynchronously
        assert finding.status == "fail" and "not loaded" in finding.detail
        assert f"module load {module}" in finding.fix
    finally:
        await asyncio.to_thread(sandbox.cli, f"module load {module}")
    finding = by_check(await doctor(target), f"module {module}")
    assert finding.status == "ok"
