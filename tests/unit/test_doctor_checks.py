"""The doctor's judgements (pure): each failure names the file, key or package to fix."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from router.asterisk_config.prompts import prompts_used
from router.asterisk_config.prompts_cli import generate, render_list
from router.config.rules import load_rules
from router.config.settings import load_settings
from router.doctor import checks
from router.doctor.cli import render

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("status", "detail", "fix"),
    [
        (0, "nothing answers", "http.conf [general]: enabled = yes"),
        (401, "user or password refused", "ari.conf [cr]: password must equal $X_PW"),
        (404, "no ARI (404)", "ari.conf [general]: enabled = yes"),
    ],
)
def test_ari_failures_name_the_file_and_key(status: int, detail: str, fix: str) -> None:
    finding = checks.ari_finding("http://h:8088/ari", "cr", "$X_PW", status, "refused")
    assert finding.status == "fail" and detail in finding.detail and fix in finding.fix
    assert checks.ari_finding("u", "cr", "$X_PW", None).status == "ok"


def test_version_without_stasis_broadcast() -> None:
    old = checks.version_finding("22.5.2", broadcast_loaded=False)
    assert old.status == "fail" and "22.7" in old.fix
    unloaded = checks.version_finding("22.10.1+dfsg", broadcast_loaded=False)
    assert "module load app_stasis_broadcast.so" in unloaded.fix
    assert checks.version_finding("22.10.1", broadcast_loaded=True).status == "ok"
    assert checks.parse_version("22.10.1+dfsg+~cs6") == (22, 10, 1)


def test_modules_not_running_fail_with_the_load_command() -> None:
    loaded = {name: "Running" for name in checks.REQUIRED_MODULES}
    loaded.pop("app_queue.so")
    loaded["func_db.so"] = "Declined"
    failed = {f.check: f for f in checks.module_findings(loaded) if f.status == "fail"}
    assert set(failed) == {"module app_queue.so", "module func_db.so"}
    assert "queues.conf" in failed["module app_queue.so"].fix
    assert "status Declined" in failed["module func_db.so"].detail


def test_endpoint_states() -> None:
    states = {"PJSIP/101": "online", "PJSIP/102": "offline", "PJSIP/1002": None, "PJSIP/x": ""}
    who = {"PJSIP/101": "anna", "PJSIP/102": "boris", "PJSIP/1002": "vera", "PJSIP/x": "x"}
    found = {f.check: f for f in checks.endpoint_findings(states, who)}
    assert found["operator anna: PJSIP/101"].status == "ok"
    assert found["operator boris: PJSIP/102"].status == "warn"
    typo = found["operator vera: PJSIP/1002"]
    assert typo.status == "fail" and "operators[vera].endpoint" in typo.fix
    assert "qualify_frequency" in found["operator x: PJSIP/x"].fix
    assert checks.endpoint_resource("PJSIP/101@office") == ("PJSIP", "office")
    assert checks.endpoint_resource("SIP/reception@office") == ("SIP", "reception")


def test_prompts_per_language() -> None:
    needed = {"clinic-main-menu": ("ru", "en"), "queue-minutes": ("ru",), "x": ("ru",)}
    available = {"clinic-main-menu": ["en"], "queue-minutes": [], "x": ["ru", "en"]}
    found = {f.check: f for f in checks.prompt_findings(needed, available)}
    menu = found["prompt clinic-main-menu"]
    assert menu.status == "fail" and "missing in ru" in menu.detail
    assert "sounds/ru/clinic-main-menu.wav" in menu.fix
    assert "asterisk-core-sounds-ru" in found["prompt queue-minutes"].fix
    assert found["prompt x"].status == "ok"


def test_moh_contexts_and_queue() -> None:
    assert checks.moh_finding(None, "default").status == "skip"
    assert checks.moh_finding(["default"], "default").status == "ok"
    assert "asterisk-moh-opsound" in checks.moh_finding([], "default").fix
    [ctx] = checks.context_findings({"clinic-router-entry": True, "clinic-router-astdb": False})
    assert ctx.status == "fail" and ctx.detail == "missing: clinic-router-astdb"
    assert "#include clinic-router-extensions.conf" in ctx.fix
    assert checks.queue_finding(None, ["PJSIP/101"]).status == "fail"
    drift = checks.queue_finding(["PJSIP/op1001"], ["PJSIP/101"])
    assert drift.detail == "missing PJSIP/101; not in the rules PJSIP/OP1001"
    assert checks.queue_finding(["PJSIP/101"], ["PJSIP/101"]).status == "ok"
    extra = checks.queue_finding(["PJSIP/101", "PJSIP/102"], ["PJSIP/101"])
    assert extra.status == "warn" and extra.detail == "not in the rules PJSIP/102"


def test_checklist_shows_problems_with_fixes_and_counts() -> None:
    findings = [
        checks.Finding("a", "ok", "fine"),
        checks.Finding("b", "fail", "broken", "do this"),
        checks.Finding("c", "skip", "no CLI"),
    ]
    text = render(findings)
    assert "FAIL b: broken\n     fix: do this" in text and "ok   a" not in text
    assert text.endswith("1 passed, 0 warnings, 1 failed, 1 skipped\n")
    assert "ok   a: fine" in render(findings, verbose=True)


def test_prompts_of_the_example_rules() -> None:
    settings = load_settings(REPO / "config" / "router.yaml", secrets=False)
    needed = prompts_used(settings, load_rules(settings.routing.rules))
    # menus, options, messages, settings and the router's own, in the lines' languages and
    # the languages routes serve callers in (english-speakers)
    for name in (
        "clinic-main-menu",
        "clinic-opt-paid",
        "clinic-closed-we-will-call-back",
        "clinic-which-patient",
        "clinic-callback-no_operator",
        "clinic-press-5-callback",
        "clinic-visit-today",
        "vm-nobodyavail",
    ):
        assert needed[name] == ("ru", "en"), name
    text, missing = render_list({"clinic-opt-paid": ("ru",), "own": ("ru",)}, {"own": {"ru"}})
    assert missing == 1
    assert "MISSING  ru  clinic-opt-paid: Платные услуги, нажмите 1." in text
    assert "on PBX   ru  own: (your own recording" in text


def test_generate_speaks_known_words_and_lists_the_rest(tmp_path: Path) -> None:
    from router.asterisk_config.prompts_tts import tts_missing

    if tts_missing() is not None:
        pytest.fail(f"espeak-ng and sox are installed by make deps: {tts_missing()}")
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "clinic-opt-oms.wav").write_bytes(b"a clinic's own recording")
    out = io.StringIO()
    needed = {"clinic-opt-paid": ("ru",), "clinic-opt-oms": ("ru",), "own-menu": ("ru",)}
    assert generate(needed, tmp_path, out, io.StringIO()) == 1
    wav = (tmp_path / "ru" / "clinic-opt-paid.wav").read_bytes()
    assert wav[:4] == b"RIFF" and int.from_bytes(wav[24:28], "little") == 8000
    assert (tmp_path / "ru" / "clinic-opt-oms.wav").read_bytes() == b"a clinic's own recording"
    assert "record these yourself: ru/own-menu" in out.getvalue()


async def test_router_start_logs_an_unreachable_pbx_once_with_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    import aiohttp

    from router.doctor.startup import log_pbx_problems

    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        (tmp_path / "rules.yaml").write_text(
            "format: 1\nskills: {paid: Paid}\noperators:\n"
            "  - {id: a, name: A, endpoint: PJSIP/101, skills: {paid: 1}}\n"
        )
        (tmp_path / "router.yaml").write_text(f"ari: {{url: 'http://127.0.0.1:{port}/ari'}}\n")
        settings = load_settings(
            tmp_path / "router.yaml", env={"CLINIC_ROUTER_ARI_PASSWORD": "pw-XYZ"}, secrets=False
        )
        rules = load_rules(settings.routing.rules)
        caplog.set_level(logging.INFO, logger="router.doctor")
        async with aiohttp.ClientSession() as session:
            problems = await log_pbx_problems(settings, rules, session)
    assert [p.status for p in problems] == ["fail"]
    [record] = [r for r in caplog.records if r.name.startswith("router.doctor")]
    assert record.levelno == logging.WARNING
    assert "nothing answers" in record.getMessage() and "http.conf" in record.getMessage()
    assert "pw-XYZ" not in caplog.text
