"""A backlog of due callbacks nobody free may take does not starve one a free operator
could take (the dispatcher pages through the due tasks, `router/engine/callbacks/due_scan.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.config.callback_settings import CallbackSettings
from router.domain.miss_target import MissTarget
from router.storage.models import MissInput
from tests.engine.harness import RouterUnderTest
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(60)

BLOCKED = 300  # more than one page of due tasks (`due_scan.PAGE`)
TAKEABLE = "79990009999"
# Only an operator at level 5 of `paid` may take these; the test's operator is at 3.
NOBODY = MissTarget(skills=("paid",), min_level=5)


def miss(i: int, number: str, at: datetime, target: MissTarget | None) -> MissInput:
    return MissInput(
        call_id=f"backlog-{i}",
        line=None,
        number_e164="+" + number,
        patient_id=None,
        reason="abandoned",
        waited_s=30.0,
        missed_at=at,
        due_at=None,
        create_task=True,
        target=target,
    )


async def test_a_task_a_free_operator_may_take_is_dialled_behind_300_nobody_may(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    fake.phone("*", "answer")  # the operator's phone and the patients' trunk
    router = RouterUnderTest(
        fake, tmp_path, operators=("op1001",), callbacks=CallbackSettings(poll_s=0.2, hold_s=5)
    )
    await router.start()
    try:
        assert router.store is not None
        start = datetime.now(UTC) - timedelta(hours=1)
        for i in range(BLOCKED):  # older, so first in dispatch order
            number = f"7999100{i:04d}"
            await router.store.callbacks.record_miss(
                miss(i, number, start + timedelta(seconds=i), NOBODY)
            )
        await router.store.callbacks.record_miss(
            miss(BLOCKED, TAKEABLE, start + timedelta(minutes=30), None)
        )
        await fake.until(lambda: fake.legs_to(f"PJSIP/{TAKEABLE}@patients"), timeout=30)
        assert fake.legs_to("PJSIP/op1001")  # its operator was rung first
        # Nobody may take the others: none of them was dialled, nor claimed.
        dialled = [e for e, _ in fake.world.originated if e.endswith("@patients")]
        assert set(dialled) == {f"PJSIP/{TAKEABLE}@patients"}
        open_blocked = router.rows(
            "select count(*) from callback_tasks where state = 'open' and number_e164 != ?",
            "+" + TAKEABLE,
        )
        assert open_blocked == [(BLOCKED,)]
    finally:
        await router.stop()
