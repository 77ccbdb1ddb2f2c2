"""`clinic-router simulate` on the example configuration: text and JSON traces."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from router.cli.simulate import add_simulate_parser, run_simulate

ROOT = Path(__file__).resolve().parents[2]
RULES = str(ROOT / "config" / "rules.yaml")
PATIENTS = """\
patient_id,name,phones,assigned_operator,tags,language
p1,Иван Петров,+79161234567,op1002,dms;vip,ru
p2,John Smith,+79031112233,,,en
"""


def simulate(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="clinic-router")
    add_simulate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", "--config", RULES, *argv])
    out = io.StringIO()
    return run_simulate(args, out=out), out.getvalue()


@pytest.fixture
def patients(tmp_path: Path) -> str:
    path = tmp_path / "patients.csv"
    path.write_text(PATIENTS, encoding="utf-8")
    return str(path)


def test_after_hours_on_new_years_eve_creates_a_callback() -> None:
    code, out = simulate(
        "--line", "+74952232222", "--caller", "+79161234567", "--at", "2026-12-31 20:15"
    )
    assert code == 0, out
    assert "unknown caller" in out
    assert "route main/closed: matched" in out
    # 31 Dec 2026 is a day off; the callback desk reopens on Saturday 9 January 2027.
    assert "callback task created (after_hours); first attempt 2027-01-09 10:00" in out
    assert out.rstrip().endswith("=> callback; a callback task")


def test_unknown_caller_hears_the_menu_and_presses_4(patients: str) -> None:
    code, out = simulate(
        "--line",
        "74952232222",
        "--caller",
        "+79160000000",
        "--at",
        "2026-12-29 11:15",
        "--press",
        "4",
        "--patients",
        patients,
    )
    assert code == 0, out
    assert "route main/closed: no, moscow open at 2026-12-29 11:15" in out
    assert "route main/own-manager: no, caller is unknown, not known; no assigned operator" in out
    assert "(hidden for this caller: 5); caller pressed 4" in out
    assert "ring op1001 (Анна Смирнова) first, then op1007" in out


def test_dms_patient_with_busy_manager_skips_the_menu(patients: str, tmp_path: Path) -> None:
    states = tmp_path / "ops.json"
    states.write_text('{"op1002": "on_call", "op1007": "paused"}', encoding="utf-8")
    code, out = simulate(
        "--line",
        "+74952232222",
        "--caller",
        "89161234567",
        "--at",
        "2026-12-29 11:15",
        "--patients",
        patients,
        "--operators-state",
        str(states),
        "--format",
        "json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["patient"]["id"] == "p1"
    kinds = [(s["kind"], s.get("action"), s.get("operator")) for s in report["steps"]]
    assert ("operator", None, "op1002") in kinds
    assert ("menu", "auto", None) in kinds
    queue = [s for s in report["steps"] if s["kind"] == "queue" and "eligible" in s]
    assert queue[0]["eligible"] == ["op1002", "op1007"] and queue[0]["available"] == []
    assert queue[1]["available"] == ["op1006", "op1008"]  # dms ≥ 2 after 30 s
    assert (report["outcome"], report["operator"]) == ("connect", "op1006")


def test_english_speaker_goes_to_the_english_queue(patients: str) -> None:
    code, out = simulate(
        "--line",
        "+74952232222",
        "--caller",
        "+79031112233",
        "--at",
        "2026-12-29 11:15",
        "--patients",
        patients,
    )
    assert code == 0, out
    assert "route main/english-speakers: matched" in out
    assert "=> connect op1003" in out


def test_nobody_available_ends_in_a_callback_task(tmp_path: Path) -> None:
    states = tmp_path / "ops.yaml"
    states.write_text("\n".join(f"op100{i}: offline" for i in range(1, 9)), encoding="utf-8")
    code, out = simulate(
        "--line",
        "+74912000000",
        "--caller",
        "+79160000000",
        "--at",
        "2026-12-29 10:00",
        "--press",
        "1",
        "--operators-state",
        str(states),
    )
    assert code == 0, out
    assert "queue paid: nobody available within max_wait_s 240" in out
    assert "=> callback; a callback task" in out


def test_withheld_number_cannot_be_called_back() -> None:
    code, out = simulate(
        "--line", "+74952232222", "--caller", "anonymous", "--at", "2026-12-31 20:15"
    )
    assert code == 0, out
    assert "no callback task: the caller's number is withheld or invalid" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--line", "+74952232222", "--press", "11"], "--press '11': '11' is not a phone key"),
        (["--line", "+74952232222", "--press", "menu=1"], "--press 'menu=1': write a key"),
        (["--line", "+74952232222", "--at", "tomorrow"], "--at 'tomorrow': write the local"),
        (["--line", "+74952232222", "--appointment", "soon"], "--appointment 'soon'"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = simulate("--caller", "+79161234567", *argv)
    assert code == 2 and out == ""
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_operators_state_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    states = tmp_path / "ops.yaml"
    states.write_text("op1001: asleep\n", encoding="utf-8")
    code, _ = simulate(
        "--line", "+74952232222", "--caller", "+79161234567", "--operators-state", str(states)
    )
    assert code == 2
    assert "op1001: unknown state 'asleep'" in capsys.readouterr().err


def test_broken_rules_exit_2_with_positions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("skills: {paid: Paid}\noperators: []\nlines: [{id: x}]\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_simulate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", "--config", str(rules), "--line", "1", "--caller", "2"])
    assert run_simulate(args, out=io.StringIO()) == 2
    assert "required key 'numbers' is missing" in capsys.readouterr().err


SHARED = """\
patient_id,name,phones,assigned_operator,tags,language,birth_year
k1,Маша Петрова,+79161234567,,dms,ru,2015
k2,Петя Петров,+79161234567,op1002,dms;vip,ru,2012
m1,Ольга Петрова,+79161234567,,,ru,1985
"""
SHARED_PLAY = (
    "shared phone: 3 patients on this number; play clinic-which-patient number:1985 digits:1"
    " number:2012 digits:2 number:2015 digits:3 [1 m1 Ольга Петрова (1985), 2 k2 Петя Петров"
    " (2012), 3 k1 Маша Петрова (2015)]"
)


@pytest.fixture
def shared(tmp_path: Path) -> str:
    path = tmp_path / "shared.csv"
    path.write_text(SHARED, encoding="utf-8")
    return str(path)


def _shared_phone(shared: str, *presses: str) -> str:
    argv = ["--line", "+74952232222", "--caller", "+79161234567", "--at", "2026-12-29 11:15"]
    code, out = simulate(*argv, "--patients", shared, *presses)
    assert code == 0, out
    return out


def test_a_shared_phone_shows_the_question_and_takes_the_named_press(shared: str) -> None:
    out = _shared_phone(shared, "--press", "4", "--press", "patient=2")
    assert f" 2. {SHARED_PLAY}; caller pressed 2: patient k2 Петя Петров" in out
    assert " 1. caller: patient k2 Петя Петров (tags: dms, vip; assigned: op1002)" in out
    assert "assigned operator op1002 (Мария Кузнецова) is available: ring them" in out


def test_the_first_plain_press_answers_the_shared_phone_question(shared: str) -> None:
    out = _shared_phone(shared, "--press", "1", "--press", "4")
    assert f"{SHARED_PLAY}; caller pressed 1: patient m1 Ольга Петрова" in out
    assert "; caller pressed 4" in out  # the second press goes to the menu


def test_no_key_at_the_shared_phone_question_is_the_family(shared: str) -> None:
    out = _shared_phone(shared, "--press", "-", "--press", "4")
    assert f"{SHARED_PLAY}; no key pressed: the family" in out
    assert " 1. caller: patient family family (tags: -; assigned: -)" in out
    assert "; caller pressed 4" in out
    out = _shared_phone(shared, "--press", "patient=7")
    assert f"{SHARED_PLAY}; caller pressed 7 (not offered): the family" in out


def test_naming_the_patient_press_for_a_single_patient_is_refused(
    patients: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = simulate(
        "--line", "+74952232222", "--caller", "+79161234567", "--patients", patients,
        "--press", "patient=1",
    )  # fmt: skip
    assert code == 2
    assert "has 1 patient on record, so nobody is asked" in capsys.readouterr().err


def test_a_number_no_line_lists_goes_to_the_last_resort_as_live() -> None:
    code, out = simulate(
        "--line", "+70000000000", "--caller", "+79160000000", "--at", "2026-12-29 11:15"
    )
    assert code == 0, out
    assert out.splitlines()[0].startswith("rules ") and "line (none) (+70000000000)" in out
    assert (
        " 2. no line lists the number +70000000000 (lines: +74952232222, 74952232222,"
        " +74912000000); the live router answers it all the same"
    ) in out
    assert " 3. no line: the last resort, any operator, waiting up to 0 s" in out
    assert " 4. queue skills any at 0 s: any skill level ≥ 1: eligible op1001" in out
    assert out.rstrip().endswith("=> connect op1001; no callback task")


def test_the_last_resort_waits_as_the_settings_say(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "rules.yaml").write_text((ROOT / "config" / "rules.yaml").read_text("utf-8"))
    router = (ROOT / "config" / "router.yaml").read_text("utf-8")
    assert "\nrouting:\n" in router
    router = router.replace("\nrouting:\n", "\nrouting:\n  unrouted_max_wait_s: 45\n", 1)
    (config / "router.yaml").write_text(router, encoding="utf-8")
    states = tmp_path / "ops.yaml"
    states.write_text("\n".join(f"op100{i}: offline" for i in range(1, 9)), encoding="utf-8")
    code, out = simulate(
        "--config", str(config / "router.yaml"), "--line", "+70000000000",
        "--caller", "+79160000000", "--at", "2026-12-29 11:15", "--operators-state", str(states),
    )  # fmt: skip
    assert code == 0, out
    assert "no line: the last resort, any operator, waiting up to 45 s" in out
    assert "queue skills any: nobody available within max_wait_s 45" in out
    assert "callback task created (max_wait)" in out


def test_a_call_no_route_takes_goes_to_the_last_resort_as_live(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "skills: {paid: Paid}\n"
        "operators: [{id: op1, name: Ola, endpoint: PJSIP/op1, skills: {paid: 2}}]\n"
        "lines: [{id: main, numbers: '+74950000000'}]\n"
        "routes:\n  main:\n"
        "    - {name: vip, when: {tags_any: vip}, then: {skills: {need: [paid]}}}\n",
        encoding="utf-8",
    )
    parser = argparse.ArgumentParser()
    add_simulate_parser(parser.add_subparsers(dest="command"))
    argv = ["--line", "+74950000000", "--caller", "+79160000000", "--at", "2026-12-29 11:15"]
    args = parser.parse_args(["simulate", "--config", str(rules), *argv])
    out = io.StringIO()
    assert run_simulate(args, out=out) == 0
    text = out.getvalue()
    assert "no route in 'main' matched" in text
    assert "nothing placed the call: the last resort, any operator, waiting up to 0 s" in text
    assert text.rstrip().endswith("=> connect op1; no callback task")
