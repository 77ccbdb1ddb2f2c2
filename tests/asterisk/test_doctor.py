"""`clinic-router doctor` against real Asterisks: a healthy setup passes, and each broken
one is reported with its fix. On the sandbox: a wrong password, no ARI at the URL,
nothing listening, a missing endpoint, prompt or module. On a throwaway stock PBX
(tests/asterisk/stock_root.py), the settings themselves: ARI disabled in ari.conf, HTTP
disabled in http.conf, a password the PBX does not have, no music-on-hold class, a
module unloaded, an endpoint and a prompt the PBX lacks."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from router.config.rules import load_rules
from router.config.settings import load_settings
from router.doctor.checks import Finding
from router.doctor.probe import DoctorTarget, run_checks
from sip_test_harness.instance import current
from sip_test_harness.router_process import REPO
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import ARI_PASSWORD, OPERATORS
from tests.asterisk.stock_root import ARI_URL, PHONES, DebianRoot, StockPbx, debian_root_fixture

pytestmark = pytest.mark.asterisk
debian_root = debian_root_fixture

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
    url = url or f"http://{current().host}:8088/ari"  # the sandbox instance's
    (folder / "router.yaml").write_text(f"ari: {{url: '{url}'}}\n")
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
    nope = f"http://{sandbox.ari_access.host}:8088/nope"
    target = write_setup(tmp_path, endpoints=["PJSIP/op1001"], url=nope)
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


# ---- a broken stock PBX: each setting really set, in a throwaway overlay (stock_root) ----


class BrokenPbx:
    """The stock PBX configured by asterisk-config; `broken(file, text, reload)` appends a
    setting to one of its files and reloads, and puts the file back afterwards."""

    def __init__(self, pbx: StockPbx) -> None:
        self.pbx = pbx

    @contextmanager
    def broken(self, name: str, appended: str, reload: str) -> Iterator[None]:
        path = self.pbx.etc / name
        original = path.read_text()
        path.write_text(original + appended)
        assert self.pbx.cli(reload) is not None
        try:
            yield
        finally:
            path.write_text(original)
            self.pbx.cli(reload)


async def until_finding(
    target: DoctorTarget, cli: Callable[[str], str | None], start: str, status: str
) -> Finding:
    """Doctor until the check that starts with `start` has `status` (reloads and unloads
    complete asynchronously)."""
    deadline = time.monotonic() + 15
    while True:
        async with aiohttp.ClientSession() as session:
            findings = await run_checks(target, session, cli)
        matching = [f for f in findings if f.check.startswith(start)]
        if (matching and matching[0].status == status) or time.monotonic() > deadline:
            assert matching, findings
            return matching[0]
        await asyncio.sleep(0.3)


@pytest.fixture
async def broken_pbx(debian_root: DebianRoot, tmp_path: Path) -> AsyncIterator[BrokenPbx]:
    pbx = StockPbx(debian_root, tmp_path / "stock-asterisk.out")
    pbx.admin_edits()
    write_setup(tmp_path, endpoints=[f"PJSIP/{ext}" for ext in PHONES.values()], url=ARI_URL)
    env = tmp_path / "clinic-router.env"
    env.write_text(f"CLINIC_ROUTER_ARI_PASSWORD={ARI_PASSWORD}\n")
    config = ["--config", str(tmp_path / "router.yaml"), "--env-file", str(env)]
    applied = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "router",
            "asterisk-config",
            *config,
            "--apply",
            str(pbx.etc),
            "--no-reload",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr  # reloads: not running
    try:
        await pbx.start()
        yield BrokenPbx(pbx)
    finally:
        pbx.stop()


async def test_a_stock_pbx_broken_setting_by_setting(broken_pbx: BrokenPbx, tmp_path: Path) -> None:
    pbx = broken_pbx.pbx
    target = write_setup(
        tmp_path,
        endpoints=[f"PJSIP/{ext}" for ext in PHONES.values()],
        url=ARI_URL,
    )
    assert (await until_finding(target, pbx.cli, "ARI at", "ok")).detail
    assert (await until_finding(target, pbx.cli, "music on hold", "ok")).status == "ok"

    # ARI disabled in ari.conf: HTTP answers, ARI does not
    with broken_pbx.broken(
        "ari.conf", "\n[general](+)\nenabled = no\n", "module reload res_ari.so"
    ):
        found = await until_finding(target, pbx.cli, "ARI at", "fail")
        assert "404" in found.detail and "ari.conf [general]: enabled = yes" in found.fix
    assert (await until_finding(target, pbx.cli, "ARI at", "ok")).status == "ok"

    # HTTP disabled in http.conf: nothing answers
    with broken_pbx.broken("http.conf", "\n[general](+)\nenabled = no\n", "module reload http"):
        found = await until_finding(target, pbx.cli, "ARI at", "fail")
        assert "nothing answers" in found.detail and "http.conf [general]" in found.fix
    assert (await until_finding(target, pbx.cli, "ARI at", "ok")).status == "ok"

    # the PBX's password for the user differs from the router's
    wrong = "\n[clinic-router](+)\npassword = not-what-the-router-has\n"
    with broken_pbx.broken("ari.conf", wrong, "module reload res_ari.so"):
        found = await until_finding(target, pbx.cli, "ARI at", "fail")
        assert "401" in found.detail and "CLINIC_ROUTER_ARI_PASSWORD" in found.fix
    assert (await until_finding(target, pbx.cli, "ARI at", "ok")).status == "ok"

    # no music-on-hold class: the stock [default] taken out of musiconhold.conf
    moh = pbx.etc / "musiconhold.conf"
    stock_moh = moh.read_text()
    assert re.search(r"^\[default\]", stock_moh, re.M), "the stock file has a default class"
    moh.write_text(re.sub(r"^\[default\]", "[default-renamed]", stock_moh, flags=re.M))
    try:
        assert pbx.cli("moh reload") is not None
        found = await until_finding(target, pbx.cli, "music on hold", "fail")
        assert "asterisk-moh-opsound" in found.fix and "musiconhold.conf" in found.fix
    finally:
        moh.write_text(stock_moh)
        pbx.cli("moh reload")

    # a module unloaded
    assert pbx.cli("module unload app_queue.so") is not None
    found = await until_finding(target, pbx.cli, "module app_queue.so", "fail")
    assert "not loaded" in found.detail and "module load app_queue.so" in found.fix
    queue = await until_finding(target, pbx.cli, "fallback queue", "fail")
    assert "no such queue" in queue.detail

    # an operator's endpoint the PBX does not have, and a prompt it does not have
    typo = write_setup(
        tmp_path, endpoints=["PJSIP/101", "PJSIP/1002"], prompt="clinic-no-such-prompt", url=ARI_URL
    )
    async with aiohttp.ClientSession() as session:
        findings = await run_checks(typo, session, pbx.cli)
    endpoint = by_check(findings, "operator o1: PJSIP/1002")
    assert endpoint.status == "fail" and "no PJSIP endpoint '1002'" in endpoint.detail
    assert "operators[o1].endpoint in rules.yaml" in endpoint.fix
    prompt = by_check(findings, "prompt clinic-no-such-prompt")
    assert prompt.status == "fail" and "sounds/ru/clinic-no-such-prompt.wav" in prompt.fix
