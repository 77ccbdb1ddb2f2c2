"""What the live pages say a waiting caller waits for (router.console.live)."""

from __future__ import annotations

import time

from console_support import Caller, Live, browser, sign_in

from router.domain.dispatch import PERSONAL, WaitingCall
from router.domain.miss_target import MissTarget


async def test_a_caller_moved_to_an_operator_shows_the_operator_not_the_old_queue(
    live: Live,
) -> None:
    # Moved from `paid` to op1002 by a supervisor: the miss target keeps `paid` (where the
    # caller goes back to if op1002 does not answer), the room has the personal wait.
    moved = Caller(
        "c-1", "+79161234567", miss_target=MissTarget("moscow", "paid", None, 1, "op1002")
    )
    queued = Caller("c-2", "+79160000000", miss_target=MissTarget("moscow", "paid"))
    live.calls.update({"c-1": moved, "c-2": queued})
    since = time.monotonic()
    live.room.wait(WaitingCall("c-1", PERSONAL, since, frozenset({"op1002"})), lambda _o: True)
    live.room.wait(WaitingCall("c-2", 0, since + 1, frozenset({"op1001"})), lambda _o: True)
    async with browser() as client:
        await sign_in(client, live.console.base, "sam")
        async with client.get(f"{live.console.base}/console/wallboard") as page:
            html = await page.text()
    row_1 = html[html.index('data-call="c-1"') :].split("</tr>")[0]
    row_2 = html[html.index('data-call="c-2"') :].split("</tr>")[0]
    assert "<td>operator op1002</td>" in row_1 and "paid" not in row_1
    assert "<td>paid</td>" in row_2
