import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from router.domain.operators import Presence
from router.engine.recorder import FAILED, FULL, Kind, Recorder
from router.storage.journal import (
    CallEvent,
    CallUpdate,
    CloseCallbacks,
    JournalOp,
    NewCall,
    OperatorState,
    RingAttempt,
)
from router.storage.models import CallRow


async def test_writes_are_applied_in_order_and_retried_when_the_database_fails() -> None:
    written: list[int] = []
    failures = {"left": 3}

    def make(n: int):  # type: ignore[no-untyped-def]
        async def write() -> None:
            if n == 2 and failures["left"] > 0:
                failures["left"] -= 1
                raise OSError("database gone")
            written.append(n)

        return write

    recorder = Recorder(retry_initial=0.01, retry_max=0.02)
    task = asyncio.create_task(recorder.run())
    for n in range(5):
        recorder.submit(str(n), make(n))
    assert await recorder.flush(2.0)
    task.cancel()
    assert written == [0, 1, 2, 3, 4]
    assert recorder.failures == 3


async def test_a_permanent_error_does_not_stall_later_writes() -> None:
    written: list[str] = []

    async def bad() -> None:
        raise ValueError("constraint")

    async def good() -> None:
        written.append("good")

    recorder = Recorder(
        is_transient=lambda exc: isinstance(exc, OSError),
        retry_initial=0.01,
        retry_max=0.01,
        max_attempts_permanent=2,
    )
    task = asyncio.create_task(recorder.run())
    recorder.submit("bad", bad)
    recorder.submit("good", good)
    assert await recorder.flush(2.0)
    task.cancel()
    assert written == ["good"]


# -- journal records: batches ------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def ev(name: str) -> CallEvent:
    return CallEvent("c1", name, {}, T0)


class FakeJournal:
    """Applies batches to a list; `fail(batch)` may raise first (what a database would)."""

    def __init__(self, fail: Callable[[Sequence[JournalOp]], None] = lambda batch: None) -> None:
        self.fail = fail
        self.batches: list[list[str]] = []
        self.written: list[str] = []

    async def apply(self, ops: Sequence[JournalOp]) -> None:
        names = [op.kind for op in ops if isinstance(op, CallEvent)]
        self.batches.append(names)
        self.fail(ops)
        self.written += names


@asynccontextmanager
async def running(recorder: Recorder) -> AsyncIterator[Recorder]:
    task = asyncio.create_task(recorder.run())
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_records_gather_into_batches_of_at_most_batch_max() -> None:
    journal = FakeJournal()
    async with running(Recorder(journal.apply, batch_max=4, linger_s=0.05)) as recorder:
        for n in range(10):
            recorder.record(ev(str(n)))
        assert await recorder.flush(2.0)
    assert journal.written == [str(n) for n in range(10)]
    assert [len(b) for b in journal.batches] == [4, 4, 2]


async def test_a_write_of_its_own_keeps_its_place_between_batches() -> None:
    journal = FakeJournal()
    order: list[str] = []

    async def alone() -> None:
        order.append(f"alone after {len(journal.written)}")

    async with running(Recorder(journal.apply)) as recorder:
        recorder.record(ev("a"))
        recorder.record(ev("b"))
        recorder.submit("operator sync", alone)
        recorder.record(ev("c"))
        assert await recorder.flush(2.0)
    assert journal.batches == [["a", "b"], ["c"]]
    assert order == ["alone after 2"]


async def test_a_batch_that_fails_for_a_while_is_retried_whole_in_order() -> None:
    left = {"failures": 2}

    def db_down(batch: Sequence[JournalOp]) -> None:
        if left["failures"]:
            left["failures"] -= 1
            raise OSError("database gone")

    journal = FakeJournal(db_down)
    recorder = Recorder(journal.apply, retry_initial=0.01, retry_max=0.02, linger_s=0)
    async with running(recorder):
        for n in range(5):
            recorder.record(ev(str(n)))
        assert await recorder.flush(2.0)
    assert journal.written == ["0", "1", "2", "3", "4"]
    assert recorder.failures == 2 and recorder.backlog == 0


async def test_a_bad_record_is_dropped_alone_and_the_rest_of_its_batch_lands() -> None:
    def constraint(batch: Sequence[JournalOp]) -> None:
        if any(isinstance(op, CallEvent) and op.kind == "bad" for op in batch):
            raise ValueError("constraint")

    journal = FakeJournal(constraint)
    recorder = Recorder(
        journal.apply,
        is_transient=lambda exc: isinstance(exc, OSError),
        retry_initial=0.01,
        retry_max=0.01,
        max_attempts_permanent=2,
    )
    async with running(recorder):
        for name in ["a", "b", "bad", "c"]:
            recorder.record(ev(name))
        assert await recorder.flush(2.0)
        assert journal.batches[0] == ["a", "b", "bad", "c"]
        # One by one after the failed batch; the bad record twice, then dropped.
        assert journal.batches[1:] == [["a"], ["b"], ["bad"], ["bad"], ["c"]]
        assert journal.written == ["a", "b", "c"]
        # Batching resumes once the failed batch is settled.
        for name in ["d", "e"]:
            recorder.record(ev(name))
        assert await recorder.flush(2.0)
    assert journal.batches[-1] == ["d", "e"]
    assert journal.written == ["a", "b", "c", "d", "e"]


async def test_flush_skips_the_linger_and_times_out_while_the_database_is_down() -> None:
    journal = FakeJournal()
    async with running(Recorder(journal.apply, linger_s=30)) as recorder:
        recorder.record(ev("a"))
        assert await recorder.flush(1.0)  # well before the 30 s linger
        assert journal.written == ["a"]

    def down(batch: Sequence[JournalOp]) -> None:
        raise OSError("database gone")

    journal = FakeJournal(down)
    recorder = Recorder(journal.apply, retry_initial=0.01, retry_max=0.01)
    async with running(recorder):
        recorder.record(ev("a"))
        assert not await recorder.flush(0.2)
        assert recorder.backlog == 1  # kept, not dropped


async def test_queued_calls_are_those_whose_records_have_not_landed() -> None:
    """What a reconcile leaves out while the journal is behind (router/engine/reconcile.py):
    the calls of every record still held, a batch being retried included, none once written."""
    down = {"on": True}

    def fail(batch: Sequence[JournalOp]) -> None:
        if down["on"]:
            raise OSError("database gone")

    recorder = Recorder(FakeJournal(fail).apply, retry_initial=0.01, retry_max=0.01)
    async with running(recorder):
        recorder.record(NewCall(CallRow("new", "app", "+79990001122", "74952232222", T0)))
        recorder.record(CallUpdate("ended", {"outcome": "abandoned"}))
        recorder.record(ev("a"))  # call c1
        recorder.record(RingAttempt("rung", "op1", None, T0, T0, "no_answer", 0))
        recorder.record(CloseCallbacks("+79990001122", "reached_operator", T0, "reached"))
        recorder.record(CloseCallbacks("+79990001122", "reached_operator", T0, None))
        recorder.record(OperatorState("op1", Presence.AVAILABLE, None, T0, None, 0, 0))
        recorder.submit("operator sync", _nothing)
        assert not await recorder.flush(0.1)
        assert recorder.queued_calls() == {"new", "ended", "c1", "rung", "reached"}
        down["on"] = False
        assert await recorder.flush(2.0)
        assert recorder.queued_calls() == frozenset()


async def _nothing() -> None:
    pass


async def test_record_now_skips_the_linger_and_waits_only_for_its_own_record() -> None:
    """A call's first row lands before the answer; the records behind it keep batching."""
    journal = FakeJournal()
    async with running(Recorder(journal.apply, linger_s=30)) as recorder:
        await asyncio.sleep(0.01)  # the writer waits for records
        assert await recorder.flush(1.0)  # idle: returns at once, leaving no hurry behind
        recorder.record(ev("a"))
        await asyncio.sleep(0.1)
        assert journal.written == []  # "a" lingers
        assert await asyncio.wait_for(recorder.record_now(ev("first"), 1.0), 1.0)
        assert journal.written == ["a", "first"]
        recorder.record(ev("b"))
        await asyncio.sleep(0.1)
        assert journal.written == ["a", "first"]  # "b" lingers, as before


async def test_record_now_does_not_wait_for_a_database_that_is_away() -> None:
    def down(batch: Sequence[JournalOp]) -> None:
        raise OSError("database gone")

    recorder = Recorder(FakeJournal(down).apply, retry_initial=0.05, retry_max=0.05, linger_s=0)
    async with running(recorder):
        assert not await recorder.record_now(ev("first"), 0.2)  # timed out: the first failure
        assert recorder.health().consecutive_failures >= 1
        started = asyncio.get_running_loop().time()
        assert not await recorder.record_now(ev("second"), 5.0)  # failing: at once
        assert asyncio.get_running_loop().time() - started < 1.0  # not its 5 s (a loaded CI)
        assert recorder.backlog == 2  # both kept, in order


def test_records_need_a_journal() -> None:
    with pytest.raises(RuntimeError):
        Recorder().record(ev("a"))


# -- health, the bound, the log ------------------------------------------------------------------


class Switch:
    """A database that is down until `up` is set; counts the attempts."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.attempts = 0

    def __call__(self, batch: Sequence[JournalOp]) -> None:
        self.attempts += 1
        if not self.up.is_set():
            raise OSError("disk full")


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - a plain counter, polled with a deadline
            await asyncio.sleep(0.005)


def call_row(call_id: str) -> NewCall:
    return NewCall(CallRow(id=call_id, app="a", caller_raw="1", did="1", started_at=T0))


async def test_failing_writes_are_reported_logged_once_and_recovered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = {"t": 100.0}
    db = Switch()
    journal = FakeJournal(db)
    recorder = Recorder(
        journal.apply, retry_initial=0.001, retry_max=0.002, linger_s=0, clock=lambda: now["t"]
    )
    caplog.set_level(logging.DEBUG, logger="router.engine.recorder")
    async with running(recorder):
        assert recorder.health().problem is None
        recorder.record(ev("a"))
        await wait_until(lambda: db.attempts >= 5)
        now["t"] = 112.0
        health = recorder.health()
        assert health.consecutive_failures >= 5 and health.backlog == 1
        assert health.failing_for_s == 12.0 and health.last_write_at is None
        assert health.problem is not None and "disk full" in health.problem
        assert "1 records held" in health.problem
        db.up.set()
        assert await recorder.flush(2.0)
        health = recorder.health()
        assert health.problem is None and health.consecutive_failures == 0
        assert health.last_write_at is not None and health.failures >= 5
    assert journal.written == ["a"]
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.levelno for r in loud] == [logging.WARNING, logging.INFO], [
        r.getMessage() for r in loud
    ]
    assert "failing" in loud[0].getMessage() and "work again" in loud[1].getMessage()


async def test_a_write_that_never_returns_is_not_storing() -> None:
    now = {"t": 0.0}
    hang = asyncio.Event()

    async def stuck(ops: Sequence[JournalOp]) -> None:
        await hang.wait()

    recorder = Recorder(stuck, linger_s=0, stall_s=30, clock=lambda: now["t"])
    async with running(recorder):
        recorder.record(ev("a"))
        now["t"] = 29.0
        assert recorder.health().problem is None
        now["t"] = 31.0
        problem = recorder.health().problem
        assert problem is not None and "31 s" in problem
        hang.set()
        assert await recorder.flush(2.0)
        assert recorder.health().problem is None


async def test_the_backlog_is_bounded_journey_detail_first_and_misses_never(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = Switch()
    journal = FakeJournal(db)
    misses: list[str] = []

    def miss(n: int) -> Callable[[], Awaitable[None]]:
        async def write() -> None:
            if not db.up.is_set():
                raise OSError("disk full")
            misses.append(f"miss{n}")

        return write

    recorder = Recorder(
        journal.apply, retry_initial=0.001, retry_max=0.002, linger_s=0, backlog_max=4
    )
    caplog.set_level(logging.INFO, logger="router.engine.recorder")
    async with running(recorder):
        for n in range(3):
            recorder.record(call_row(f"c{n}"))
        for n in range(3):
            recorder.record(ev(f"step{n}"))  # the 4th record fits, the others are dropped
        for n in range(6):
            recorder.record(call_row(f"d{n}"))  # up to twice the bound
        for n in range(3):
            recorder.submit(f"miss {n}", miss(n), Kind.MISS)  # past every bound
        health = recorder.health()
        assert health.backlog == 8 + 3
        assert health.dropped == {(Kind.JOURNEY, FULL): 2, (Kind.CALL, FULL): 2}
        db.up.set()
        assert await recorder.flush(2.0)
    assert journal.written == ["step0"]
    assert misses == ["miss0", "miss1", "miss2"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("at its bound" in m for m in warnings) == 2  # once per kind, not per record
    assert any("under its bound again" in r.getMessage() for r in caplog.records)


async def test_a_record_that_can_never_be_written_is_counted_when_dropped() -> None:
    def constraint(batch: Sequence[JournalOp]) -> None:
        raise ValueError("constraint")

    recorder = Recorder(
        FakeJournal(constraint).apply,
        is_transient=lambda exc: isinstance(exc, OSError),
        retry_initial=0.001,
        max_attempts_permanent=2,
        linger_s=0,
    )
    async with running(recorder):
        recorder.record(ev("bad"))
        assert await recorder.flush(2.0)
    assert recorder.health().dropped == {(Kind.JOURNEY, FAILED): 1}


async def test_a_patient_who_got_through_closes_their_task_past_every_bound() -> None:
    """Dropping the close would have the patient called back about a call they had."""
    db = Switch()
    closes: list[str] = []

    async def apply(ops: Sequence[JournalOp]) -> None:
        if not db.up.is_set():
            raise OSError("disk full")
        closes.extend(op.number_e164 for op in ops if isinstance(op, CloseCallbacks))

    recorder = Recorder(apply, retry_initial=0.001, retry_max=0.002, linger_s=0, backlog_max=2)
    async with running(recorder):
        for n in range(4):
            recorder.record(call_row(f"c{n}"))  # the backlog is at twice its bound
        for n in range(3):
            recorder.record(CloseCallbacks(f"+7916000000{n}", "reached", T0, f"c{n}"))
        assert recorder.health().dropped == {}
        db.up.set()
        assert await recorder.flush(2.0)
    assert closes == ["+79160000000", "+79160000001", "+79160000002"]
