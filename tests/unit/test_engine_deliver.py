"""An event a call's full queue cannot take is dropped: counted for /metrics, not only logged."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from router.engine.call_state import ChannelGone
from router.engine.context import CallContext, EventSink
from router.engine.engine import Engine


async def test_an_event_a_full_call_queue_cannot_take_is_counted() -> None:
    engine = Engine(cast(CallContext, SimpleNamespace()))
    call = cast(EventSink, SimpleNamespace(id="c1", queue=asyncio.Queue(maxsize=1)))
    engine.deliver(call, ChannelGone("c1"))
    assert engine.events_dropped == {}
    engine.deliver(call, ChannelGone("c1"))
    engine.deliver(call, ChannelGone("c1"))
    assert engine.events_dropped == {"ChannelGone": 2}
    assert call.queue.qsize() == 1
