"""`clinic-router asterisk-config`: the generated files merge into a stock Asterisk's
config, list the operators' real endpoints from the rules, and apply once."""

from __future__ import annotations

import argparse
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from router.asterisk_config.cli import run_asterisk_config
from router.asterisk_config.files import (
    apply_changes,
    plan_changes,
    reload_commands,
    render_diff,
    with_include,
)
from router.asterisk_config.render import (
    PbxPlan,
    operator_extensions,
    plan_from,
    render_dialplan,
    render_files,
)
from router.config.rules import load_rules
from router.config.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
SECRET = "Zq9-not-a-real-secret-41"
RULES = """format: 1
skills: {paid: Paid}
operators:
  - {id: anna, name: Anna, endpoint: PJSIP/101, skills: {paid: 3}}
  - {id: boris, name: Boris, endpoint: PJSIP/102, skills: {paid: 3}}
  - {id: vera, name: Vera, endpoint: SIP/reception@office, skills: {paid: 1}}
"""
# What Debian's asterisk-config package ships, in short: a [general] in each.
STOCK_HTTP = "[general]\nservername=Asterisk\n;enabled=yes\nbindaddr=127.0.0.1\n"
STOCK_ARI = "[general]\nenabled = yes\npretty = yes\n"


def plan(**overrides: object) -> PbxPlan:
    values: dict[str, object] = {
        "ari_user": "clinic-router",
        "ari_password": SECRET,
        "http_bindaddr": "127.0.0.1",
        "http_port": 8088,
        "endpoints": ("PJSIP/101", "PJSIP/102", "SIP/reception@office"),
    }
    values.update(overrides)
    return PbxPlan(**values)  # type: ignore[arg-type]


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    """router.yaml + rules.yaml of a clinic whose phones are 101, 102 and a SIP one."""
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "router.yaml").write_text(
        "ari: {url: 'http://10.1.2.3:8089/ari', username: cr}\nrouting: {ring_timeout_s: 20}\n"
    )
    return tmp_path / "router.yaml"


def test_http_and_ari_append_to_general_instead_of_a_second_one() -> None:
    files = render_files(plan())
    for name in ("clinic-router-http.conf", "clinic-router-ari.conf"):
        headers = re.findall(r"^\[[^\]]+\].*$", files[name], re.M)
        assert headers[0] == "[general](+)"
        assert "[general]" not in headers  # a plain one is ignored (http) or fatal (ari)
    assert "enabled = yes" in files["clinic-router-http.conf"]
    assert "[clinic-router]\ntype = user" in files["clinic-router-ari.conf"]


def test_endpoints_come_from_the_rules_and_no_sandbox_name_leaks(clinic: Path) -> None:
    settings = load_settings(clinic, env={"CLINIC_ROUTER_ARI_PASSWORD": SECRET}, secrets=False)
    files = render_files(plan_from(settings, load_rules(settings.routing.rules)))
    text = "".join(files.values())
    assert "op10" not in text and "_op" not in text
    queue = files["clinic-router-queues.conf"]
    members = re.findall(r"^member => (.*)$", queue, re.M)
    assert members == ["PJSIP/101", "PJSIP/102", "SIP/reception@office"]
    for option in (
        "joinempty = unavailable,invalid",
        "leavewhenempty = unavailable,invalid",
        "ringinuse = no",
        "timeout = 20",
    ):
        assert option in queue.splitlines()
    dialplan = files["clinic-router-extensions.conf"]
    assert "Dial(PJSIP/101&PJSIP/102&SIP/reception@office,30,U(" in dialplan
    assert "exten => 101,1,Dial(PJSIP/101,30)" in dialplan
    assert "Queue(clinic-router-fallback,t,,,120," in dialplan  # the bounded wait
    # the fallback's miss record, as router/engine/fallback_misses.py reads it
    assert "Set(DB(clinic-router-missed/${UNIQUEID}:${EPOCH}:" in dialplan
    assert "bindaddr = 10.1.2.3\nbindport = 8089" in files["clinic-router-http.conf"]
    assert "firewall" in files["clinic-router-http.conf"]  # bound beyond loopback
    assert "[cr]" in files["clinic-router-ari.conf"]


def test_operator_extensions_only_for_names_an_extension_can_have() -> None:
    assert operator_extensions(["PJSIP/101", "SIP/reception@office", "PJSIP/_x"]) == [
        ("101", "PJSIP/101"),
        ("reception", "SIP/reception@office"),
    ]


def test_no_operators_means_no_dial_step() -> None:
    assert "Dial(," not in render_dialplan([])
    assert "n,Dial(" not in render_dialplan([])


def test_the_shipped_example_dialplan_is_the_generated_one() -> None:
    rules = load_rules(REPO / "config" / "rules.yaml")
    shipped = (REPO / "dialplan" / "clinic-router.conf").read_text()
    assert shipped == render_dialplan([op.endpoint for op in rules.operators])


def test_include_is_added_once_and_general_only_where_missing() -> None:
    once = with_include(STOCK_HTTP, "clinic-router-http.conf", "http.conf")
    assert once.startswith(STOCK_HTTP) and once.count("#include clinic-router-http.conf") == 1
    assert with_include(once, "clinic-router-http.conf", "http.conf") == once
    assert once.count("[general]") == 1
    bare = with_include(None, "clinic-router-ari.conf", "ari.conf")
    assert bare.index("[general]") < bare.index("#include clinic-router-ari.conf")
    queues = with_include(None, "clinic-router-queues.conf", "queues.conf")
    assert "[general]" not in queues
    tried = '#tryinclude "clinic-router-queues.conf"\n'
    assert with_include(tried, "clinic-router-queues.conf", "queues.conf") == tried


def test_diff_masks_the_password_and_apply_backs_up_once(tmp_path: Path) -> None:
    (tmp_path / "http.conf").write_text(STOCK_HTTP)
    (tmp_path / "ari.conf").write_text(STOCK_ARI)
    files = render_files(plan(add_moh_class=True))
    changes = plan_changes(tmp_path, files)
    diff = render_diff(changes, [SECRET])
    assert SECRET not in diff and "password = ********" in diff
    assert "+#include clinic-router-ari.conf" in diff
    written = apply_changes(changes, now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    assert (tmp_path / "ari.conf.clinic-router-20261203T120000Z.bak").read_text() == STOCK_ARI
    assert SECRET in (tmp_path / "clinic-router-ari.conf").read_text()
    assert (tmp_path / "clinic-router-ari.conf").stat().st_mode & 0o077 == 0o040
    assert {p.name for p in written} >= {"queues.conf", "musiconhold.conf", "extensions.conf"}
    assert reload_commands(written) == [
        "module reload http",
        "module reload res_ari.so",
        "dialplan reload",
        "module load app_queue.so",
        "module reload app_queue.so",
        "module load res_musiconhold.so",
        "moh reload",
    ]
    again = plan_changes(tmp_path, files)
    assert not [c for c in again if c.changed]
    assert render_diff(again, [SECRET]) == ""


def _args(config: Path, **kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "config": str(config),
        "env_file": None,
        "diff": None,
        "apply": None,
        "no_reload": False,
        "asterisk": "asterisk",
    }
    base.update(kw)
    return argparse.Namespace(**base)


def test_command_applies_reloads_and_is_idempotent(clinic: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "musiconhold.conf").write_text("[default]\nmode=files\ndirectory=moh\n")
    env = tmp_path / "clinic-router.env"
    env.write_text(f"# secrets\nCLINIC_ROUTER_ARI_PASSWORD={SECRET}\n")
    log = tmp_path / "cli.log"
    fake = tmp_path / "fake-asterisk"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    out = io.StringIO()
    args = _args(clinic, env_file=str(env), apply=str(etc), asterisk=str(fake))
    assert run_asterisk_config(args, out, io.StringIO()) == 0
    assert SECRET not in out.getvalue()
    assert not (etc / "clinic-router-musiconhold.conf").exists()  # the PBX has a class
    assert "-rx dialplan reload" in log.read_text().splitlines()
    assert "-rx moh reload" not in log.read_text()
    again = io.StringIO()
    assert run_asterisk_config(args, again, io.StringIO()) == 0
    assert again.getvalue() == "nothing to change\n"
    shown = io.StringIO()
    assert run_asterisk_config(_args(clinic, env_file=str(env)), shown, io.StringIO()) == 0
    assert SECRET not in shown.getvalue() and "member => PJSIP/102" in shown.getvalue()


def test_command_refuses_without_a_password(clinic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINIC_ROUTER_ARI_PASSWORD", raising=False)
    err = io.StringIO()
    assert run_asterisk_config(_args(clinic), io.StringIO(), err) == 2
    assert "no ARI password" in err.getvalue()


def test_a_failed_reload_is_exit_1(clinic: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    env = tmp_path / "env"
    env.write_text(f"CLINIC_ROUTER_ARI_PASSWORD={SECRET}\n")
    out = io.StringIO()
    args = _args(clinic, env_file=str(env), apply=str(etc), asterisk="false")
    assert run_asterisk_config(args, out, io.StringIO()) == 1
    assert "FAILED" in out.getvalue()


def _apply(clinic: Path, tmp_path: Path, etc: Path) -> tuple[int, str, str]:
    env = tmp_path / "env"
    env.write_text(f"CLINIC_ROUTER_ARI_PASSWORD={SECRET}\n")
    log = tmp_path / "cli.log"
    fake = tmp_path / "fake-asterisk"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    out, err = io.StringIO(), io.StringIO()
    args = _args(clinic, env_file=str(env), apply=str(etc), asterisk=str(fake))
    return run_asterisk_config(args, out, err), out.getvalue(), err.getvalue()


def test_a_stale_music_class_file_is_emptied_not_duplicated(clinic: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    assert _apply(clinic, tmp_path, etc)[0] == 0  # no class yet: ours defines [default]
    ours = etc / "clinic-router-musiconhold.conf"
    assert "[default]" in ours.read_text()
    assert _apply(clinic, tmp_path, etc)[1] == "nothing to change\n"  # ours is not theirs
    # the admin installs a class of their own: ours must no longer define one
    host = etc / "musiconhold.conf"
    host.write_text("[default]\nmode = files\ndirectory = moh\n" + host.read_text())
    code, out, _ = _apply(clinic, tmp_path, etc)
    assert (
        code == 0
        and f"wrote {ours}" in out
        and "-rx moh reload" in (tmp_path / "cli.log").read_text()
    )
    assert not re.search(r"^\[", ours.read_text(), re.M)  # no section at all
    assert host.read_text().count("#include clinic-router-musiconhold.conf") == 1
    assert _apply(clinic, tmp_path, etc)[1] == "nothing to change\n"


def test_a_hand_written_ari_user_of_that_name_is_refused(clinic: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    ari = STOCK_ARI + "\n[cr]\ntype = user\npassword = handmade\n"
    (etc / "ari.conf").write_text(ari)
    code, out, err = _apply(clinic, tmp_path, etc)
    assert code == 2 and out == ""
    assert "ari.conf already defines [cr]" in err and "ari.username" in err
    assert sorted(p.name for p in etc.iterdir()) == ["ari.conf"]  # nothing written
    assert (etc / "ari.conf").read_text() == ari
    # also when it sits in a file ari.conf includes (FreePBX: ari_additional_custom.conf)
    (etc / "ari.conf").write_text(STOCK_ARI + "#include ari_additional_custom.conf\n")
    (etc / "ari_additional_custom.conf").write_text("[cr]\ntype = user\n")
    code, _, err = _apply(clinic, tmp_path, etc)
    assert code == 2 and "ari_additional_custom.conf already defines [cr]" in err
    # our own user, from an earlier apply, is no clash
    (etc / "ari_additional_custom.conf").write_text("")
    assert _apply(clinic, tmp_path, etc)[0] == 0
    assert _apply(clinic, tmp_path, etc)[1] == "nothing to change\n"


FREEPBX_HEADER = ";" + "-" * 80 + ";\n; Do NOT edit this file as it is auto-generated by FreePBX.\n"


def _lines(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


# The include structure of FreePBX 16's generated files, shortened
FREEPBX = {
    "extensions.conf": _lines(
        "[globals]",
        "#include globals_custom.conf",
        "#include extensions_additional.conf",
        "#include extensions_custom.conf",
    ),
    "http.conf": _lines(
        "[general]",
        "enabled=yes",
        "bindaddr=::",
        "bindport=8088",
        "#include http_additional.conf",
        "#include http_custom.conf",
    ),
    "ari.conf": _lines(
        "[general]",
        "#include ari_general_additional.conf",
        "#include ari_general_custom.conf",
        "#include ari_additional.conf",
        "#include ari_additional_custom.conf",
    ),
    "queues.conf": _lines(
        "[general]",
        "#include queues_general_additional.conf",
        "#include queues_custom_general.conf",
        "#include queues_custom.conf",
        "#include queues_additional.conf",
        "#include queues_post_custom.conf",
    ),
    "musiconhold.conf": _lines(
        "#include musiconhold_additional.conf", "#include musiconhold_custom.conf"
    ),
    "musiconhold_additional.conf": _lines(
        "[default]", "mode=files", "directory=/var/lib/asterisk/moh"
    ),
}


def test_freepbx_layout_includes_go_into_the_custom_files(clinic: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    for name, text in FREEPBX.items():
        (etc / name).write_text(FREEPBX_HEADER + text)
    (etc / "extensions_custom.conf").write_text("[from-internal-custom]\n")
    code, out, _ = _apply(clinic, tmp_path, etc)
    assert code == 0, out
    for name, text in FREEPBX.items():  # the generated files are never edited
        assert (etc / name).read_text() == FREEPBX_HEADER + text, name
    [backup] = etc.glob("*.bak")  # of the one custom file that existed, nothing else
    assert backup.name.startswith("extensions_custom.conf.clinic-router-")
    expected = {
        "extensions_custom.conf": "clinic-router-extensions.conf",
        "http_custom.conf": "clinic-router-http.conf",
        "ari_additional_custom.conf": "clinic-router-ari.conf",
        "queues_custom.conf": "clinic-router-queues.conf",
    }
    for custom, generated in expected.items():
        text = (etc / custom).read_text()
        assert text.count(f"#include {generated}") == 1, custom
        assert "[general]" not in text  # the stock file's [general] is the one (+) extends
    assert (etc / "extensions_custom.conf").read_text().startswith("[from-internal-custom]\n")
    assert not (etc / "clinic-router-musiconhold.conf").exists()  # FreePBX has [default]
    assert "musiconhold_custom.conf" not in out
    reloads = (tmp_path / "cli.log").read_text().splitlines()
    assert reloads == [
        "-rx module reload http",
        "-rx module reload res_ari.so",
        "-rx dialplan reload",
        "-rx module load app_queue.so",
        "-rx module reload app_queue.so",
    ]
    assert _apply(clinic, tmp_path, etc)[1] == "nothing to change\n"
