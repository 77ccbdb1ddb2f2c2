"""What route conditions see of a caller (engine/facts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from router.engine.facts import family_record, visit_soon
from router.storage.models import Appointment, PatientRecord

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=MSK)


def patient(
    pid: str,
    *,
    tags: tuple[str, ...] = (),
    manager: str | None = None,
    visits: tuple[datetime, ...] = (),
) -> PatientRecord:
    appointments = tuple(Appointment(v.astimezone(UTC)) for v in visits)
    return PatientRecord(pid, pid, ("+79160000000",), manager, tags=tags, appointments=appointments)


def test_visit_soon_is_the_first_visit_later_today_or_tomorrow() -> None:
    past = NOW - timedelta(hours=1)
    tomorrow = datetime(2026, 11, 25, 10, 30, tzinfo=MSK)
    later = datetime(2026, 11, 27, 10, 30, tzinfo=MSK)
    assert visit_soon(patient("a", visits=(past, tomorrow, later)), NOW, MSK) == tomorrow
    assert visit_soon(patient("b", visits=(past, later)), NOW, MSK) is None
    assert visit_soon(None, NOW, MSK) is None


def test_family_assumes_only_what_holds_for_every_patient() -> None:
    visit = datetime(2026, 11, 25, 10, 30, tzinfo=MSK)
    mum = patient("mum", tags=("dms", "vip"), manager="op1")
    kid = patient("kid", tags=("dms",), manager="op2", visits=(visit,))
    family = family_record([mum, kid])
    assert family.tags == ("dms",)
    assert family.assigned_operator_id is None  # two different managers: none assumed
    assert [v.starts_at for v in family.appointments] == [visit.astimezone(UTC)]
    assert family_record([mum, patient("dad", manager="op1")]).assigned_operator_id == "op1"
