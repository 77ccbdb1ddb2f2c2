import asyncio

from router.engine.recorder import Recorder


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
