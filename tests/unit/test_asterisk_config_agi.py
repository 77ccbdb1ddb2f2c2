"""`clinic-router asterisk-config` for lines in `mode: agi`: the AGI dialplan with the
router's address and the lines' numbers, app_queue's queues (skills as penalties) and
penalty rules (relaxation steps), the router's AMI user; `check` wants the AGI server on."""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

import pytest

from router.asterisk_config.cli import run_asterisk_config
from router.asterisk_config.render import plan_from, render_files
from router.asterisk_config.render_agi import render_agi_dialplan
from router.config.check import run_check
from router.config.rules import load_rules
from router.config.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
AGI_RULES = REPO / "tests" / "data" / "agi" / "rules.yaml"
ARI_PASSWORD = "Zq9-not-a-real-ari-secret-41"
AMI_SECRET = "Kw7-not-a-real-ami-secret-83"
SETTINGS = """ari: {url: 'http://10.1.2.3:8088/ari', username: cr}
routing: {rules: rules.yaml, ring_timeout_s: 20, wrap_up_s: 10.0}
agi: {enabled: true, host: 10.1.2.9, port: 4574, ami_host: 10.1.2.3, ami_username: cr-ami}
"""


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    shutil.copy(AGI_RULES, tmp_path / "rules.yaml")
    (tmp_path / "router.yaml").write_text(SETTINGS)
    return tmp_path / "router.yaml"


def files_of(config: Path, ami_secret: str | None = AMI_SECRET) -> dict[str, str]:
    env = {"CLINIC_ROUTER_ARI_PASSWORD": ARI_PASSWORD}
    settings = load_settings(config, env=env, secrets=False)
    plan = plan_from(settings, load_rules(settings.routing.rules), ami_secret=ami_secret)
    return render_files(plan)


def args(config: Path, **kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "config": str(config),
        "env_file": None,
        "diff": None,
        "apply": None,
        "no_reload": True,
        "asterisk": "asterisk",
    }
    return argparse.Namespace(**{**base, **kw})


def test_the_shipped_agi_dialplan_is_the_generated_one() -> None:
    shipped = (REPO / "dialplan" / "clinic-router-agi.conf").read_text()
    assert shipped == render_agi_dialplan()


def test_the_dialplan_has_the_routers_address_and_the_agi_lines_numbers(clinic: Path) -> None:
    text = files_of(clinic)["clinic-router-agi.conf"]
    assert "CR_AGI_URL = agi://10.1.2.9:4574\n" in text
    assert "[clinic-router-inbound]\nexten => 74957770000,1,Goto(clinic-router-agi-entry," in text
    assert "127.0.0.1" not in text


def test_skills_are_penalties_and_steps_are_penalty_rules(clinic: Path) -> None:
    files = files_of(clinic)
    queues = files["clinic-router-agi-queues.conf"]
    paid = queues.split("[clinic-paid]")[1].split("\n[")[0]
    # op1001 (paid 4) from the start, op1002 (paid 2) from the second step
    assert "member => PJSIP/op1001,0" in paid and "member => PJSIP/op1002,1" in paid
    assert "timeout = 20" in paid and "defaultrule = clinic-paid" in paid
    assert "wrapuptime = 10" in paid  # routing.wrap_up_s: app_queue waits as the router does
    rules = files["clinic-router-agi-queuerules.conf"]
    assert "[clinic-paid]\npenaltychange => 8,1" in rules


def test_the_ami_user_has_the_secret_the_rights_and_only_the_routers_address(
    clinic: Path,
) -> None:
    manager = files_of(clinic)["clinic-router-manager.conf"]
    assert "[general](+)\nenabled = yes\nbindaddr = 10.1.2.3\nport = 5038\n" in manager
    assert f"[cr-ami]\nsecret = {AMI_SECRET}\n" in manager
    assert "deny = 0.0.0.0/0.0.0.0\npermit = 10.1.2.9/255.255.255.255\n" in manager
    assert "read = call,agent,dialplan\n" in manager
    # without agi.ami_secret_env's value: the ARI password, as the router itself does
    assert f"secret = {ARI_PASSWORD}\n" in files_of(clinic, None)["clinic-router-manager.conf"]


def test_an_ari_only_config_gets_no_agi_files(tmp_path: Path) -> None:
    rules = AGI_RULES.read_text().replace("    mode: agi\n", "")
    (tmp_path / "rules.yaml").write_text(rules)
    (tmp_path / "router.yaml").write_text(SETTINGS)
    files = files_of(tmp_path / "router.yaml")
    assert not any("agi" in name or "manager" in name for name in files)


def test_apply_includes_each_file_once_and_never_prints_the_secret(
    clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_ROUTER_ARI_PASSWORD", ARI_PASSWORD)
    monkeypatch.setenv("CLINIC_ROUTER_AMI_SECRET", AMI_SECRET)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "queues.conf").write_text("[general]\npersistentmembers = yes\n")
    (etc / "manager.conf").write_text("[general]\nenabled = no\n")
    shown = io.StringIO()
    assert run_asterisk_config(args(clinic), shown, io.StringIO()) == 0
    assert AMI_SECRET not in shown.getvalue() and "secret = ********" in shown.getvalue()
    diff = io.StringIO()
    assert run_asterisk_config(args(clinic, diff=str(etc)), diff, io.StringIO()) == 0
    assert AMI_SECRET not in diff.getvalue() and ARI_PASSWORD not in diff.getvalue()
    out = io.StringIO()
    assert run_asterisk_config(args(clinic, apply=str(etc)), out, io.StringIO()) == 0
    queues = (etc / "queues.conf").read_text()
    # two of ours go into queues.conf: both included
    assert "#include clinic-router-queues.conf" in queues
    assert "#include clinic-router-agi-queues.conf" in queues
    assert (etc / "queuerules.conf").read_text().count("#include clinic-router-agi-queuerules") == 1
    assert "#include clinic-router-manager.conf" in (etc / "manager.conf").read_text()
    assert "#include clinic-router-agi.conf" in (etc / "extensions.conf").read_text()
    assert f"secret = {AMI_SECRET}" in (etc / "clinic-router-manager.conf").read_text()
    assert AMI_SECRET not in out.getvalue()
    again = io.StringIO()
    assert run_asterisk_config(args(clinic, apply=str(etc)), again, io.StringIO()) == 0
    assert again.getvalue() == "nothing to change\n"


def test_a_hand_written_ami_user_of_that_name_is_refused(
    clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_ROUTER_ARI_PASSWORD", ARI_PASSWORD)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "manager.conf").write_text("[general]\nenabled = yes\n\n[cr-ami]\nsecret = x\n")
    err = io.StringIO()
    assert run_asterisk_config(args(clinic, apply=str(etc)), io.StringIO(), err) == 2
    assert "[cr-ami]" in err.getvalue() and "agi.ami_username" in err.getvalue()
    assert not (etc / "clinic-router-manager.conf").exists()


def test_check_wants_the_agi_server_on_for_an_agi_line(clinic: Path) -> None:
    env = {"CLINIC_ROUTER_ARI_PASSWORD": ARI_PASSWORD, "CLINIC_ROUTER_API_TOKEN": "t" * 32}
    assert run_check(str(clinic), env=env, out=io.StringIO()) == 0
    clinic.write_text(SETTINGS.replace("enabled: true", "enabled: false"))
    out = io.StringIO()
    assert run_check(str(clinic), env=env, out=out) == 1
    assert "agi.enabled" in out.getvalue() and "agi-line" in out.getvalue()
