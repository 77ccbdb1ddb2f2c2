"""Which key is whom on a shared phone: one ordering for the live router and simulate."""

from __future__ import annotations

from router.domain.shared_phone import choice_prompts, chosen_patient, patient_choices
from router.storage.models import PatientRecord


def _p(pid: str, name: str, year: int | None) -> PatientRecord:
    return PatientRecord(id=pid, name=name, birth_year=year)


def test_oldest_first_unknown_years_last_ties_by_name_then_id() -> None:
    records = [_p("c", "Zoe", None), _p("b", "Ann", 2015), _p("a", "Max", 1980),
               _p("e", "Ann", None), _p("d", "Ann", 2015)]  # fmt: skip
    assert [p.id for p in patient_choices(records)] == ["a", "b", "d", "e", "c"]


def test_at_most_nine_are_offered() -> None:
    records = [_p(f"p{i:02}", "X", 1950 + i) for i in range(12)]
    assert [p.id for p in patient_choices(records)] == [f"p{i:02}" for i in range(9)]


def test_the_prompt_reads_each_birth_year_then_its_key() -> None:
    offered = patient_choices([_p("k", "Kid", 2015), _p("m", "Mum", None)])
    assert choice_prompts("which", offered) == ["which", "number:2015", "digits:1", "digits:2"]


def test_a_key_picks_a_patient_anything_else_is_the_family() -> None:
    offered = patient_choices([_p("k", "Kid", 2015), _p("m", "Mum", 1985)])
    assert chosen_patient(offered, "1") == offered[0]
    assert chosen_patient(offered, "2") == offered[1]
    for key in (None, "0", "3", "*", "#"):
        assert chosen_patient(offered, key) is None
