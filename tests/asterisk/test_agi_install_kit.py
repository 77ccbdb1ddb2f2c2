"""Issue 18, real Asterisk + SIPp: what `clinic-router asterisk-config` generates for a
line in `mode: agi` works in Asterisk. The generated AGI dialplan (with the line's
numbers), app_queue's queues and penalty rules and the router's AMI user are written into
the sandbox's config folder and loaded; a call to a number only the generated dialplan
sends to AGI mode is decided by the router and answered through app_queue, and the
router follows it (and pauses a member) with the generated AMI user's rights."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from router.asterisk_config.files import apply_changes, plan_changes
from router.asterisk_config.render import plan_from, render_files
from router.asterisk_config.render_agi import INCLUDED_FROM as AGI_FILES
from router.config.rules import load_rules
from router.config.settings import load_settings
from sip_test_harness.instance import current
from sip_test_harness.router_process import ARI_PASSWORD, RouterProcess
from sip_test_harness.sandbox_agi import AGI_PORT, etc_folder, queue_line_until
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
HOST = current().host
KIT_DID = "74957770001"  # only the generated [clinic-router-inbound] sends it to AGI mode
AMI_USER = "cr-agi-kit"
AMI_SECRET = "kit-not-a-real-secret-7"
SETTINGS = (
    f"agi:\n  enabled: true\n  host: {HOST}\n  port: {AGI_PORT}\n  ami_host: {HOST}\n"
    f"  ami_username: {AMI_USER}\n  ami_secret_env: CLINIC_ROUTER_KIT_AMI_SECRET\n"
)


@pytest.fixture
def generated(sandbox, tmp_path: Path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """The rules (the AGI line with a second number) and the AGI files generated from
    them, applied to the sandbox's config and loaded; the sandbox's own files back after."""
    rules = tmp_path / "rules.yaml"
    text = RULES.read_text(encoding="utf-8")
    rules.write_text(text.replace('numbers: ["74957770000"]', f'numbers: ["{KIT_DID}"]'))
    config = tmp_path / "router.yaml"
    config.write_text(
        f"ari: {{url: 'http://{HOST}:8088/ari', username: clinic-router}}\n"
        f"routing: {{rules: {rules}, ring_timeout_s: 6}}\n{SETTINGS}"
    )
    settings = load_settings(
        config, env={"CLINIC_ROUTER_ARI_PASSWORD": ARI_PASSWORD}, secrets=False
    )
    plan = plan_from(settings, load_rules(rules), ami_secret=AMI_SECRET)
    files = {name: text for name, text in render_files(plan).items() if name in AGI_FILES}
    assert set(files) == set(AGI_FILES)
    etc = etc_folder(sandbox)
    changes = plan_changes(etc, files)
    before = {change.path: change.old for change in changes}
    apply_changes(changes)
    reload(sandbox)
    try:
        yield rules
    finally:
        for path, old in before.items():
            if old is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(old)
        for backup in etc.glob("*.clinic-router-*.bak"):
            backup.unlink()
        reload(sandbox)


def reload(sandbox: Any) -> None:
    for command in ("dialplan reload", "manager reload", "module reload app_queue.so"):
        sandbox.cli(command)


@pytest.fixture
async def router(
    sandbox: Any, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RouterProcess]:
    monkeypatch.setenv("CLINIC_ROUTER_KIT_AMI_SECRET", AMI_SECRET)
    (tmp_path / "r").mkdir()
    router = RouterProcess(tmp_path / "r", rules=generated, extra_settings=SETTINGS)
    try:
        await router.start()
        yield router
    finally:
        await router.stop()
        sandbox.hangup_all()
        sandbox.cli("queue unpause member PJSIP/op1003")


def test_the_printed_files_mask_the_ami_secret(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_ROUTER_KIT_AMI_SECRET", AMI_SECRET)
    (tmp_path / "p").mkdir()
    router = RouterProcess(tmp_path / "p", rules=generated, extra_settings=SETTINGS)
    done = router.cli("asterisk-config", "--config", str(router.config))
    assert done.returncode == 0, done.stderr
    assert f"[{AMI_USER}]" in done.stdout and AMI_SECRET not in done.stdout
    assert f"exten => {KIT_DID},1,Goto(clinic-router-agi-entry" in done.stdout


async def test_a_call_through_the_generated_files(router: RouterProcess, sandbox: Any) -> None:
    async with Phones({"op1003": Behaviour("answer", hold=3)}) as running:
        result = await place_call("79990005001", KIT_DID, dtmf="3", dtmf_delay=1.5, timeout=40)
    assert result.ok and result.answered, result.describe()
    assert running.report()["op1003"].answered == 1
    [call] = await router.wait_calls(1, timeout=10)
    kinds = [s["kind"] for s in call["journey"]]
    assert call["did"] == KIT_DID and "agi_decision" in kinds  # decided in AGI mode
    # followed over AMI with the generated user's rights (agent, call, dialplan events)
    assert (call["outcome"], call["operator_id"]) == ("answered", "op1003"), kinds
    assert kinds[-4:] == ["waiting", "ringing", "connected", "outcome"]
    body = await router.get("/api/operators")
    [op] = [o for o in body["operators"] if o["id"] == "op1003"]
    assert op["calls_today"] == 1
    # and the user may pause a member (QueuePause: write agent)
    status, _ = await router.request(
        "PUT", "/api/operators/op1003/state", {"state": "paused", "reason": "kit"}
    )
    assert status == 200
    line = await queue_line_until(sandbox, "clinic-dms", "PJSIP/op1003", lambda x: "kit" in x)
    assert "paused" in line and "kit" in line, line
