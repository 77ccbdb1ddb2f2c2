"""The engine: claims calls, starts one coroutine per call, routes events to it, and
re-adopts what Asterisk still has after every (re)connect.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from router.ari import errors as ari_errors
from router.ari.events import CallBroadcast, Event, StasisStart
from router.engine.call_state import ChannelGone, LegAnswered, Resume
from router.engine.callbacks.attempt import CALLBACK_ARG
from router.engine.cleanup import hang_up
from router.engine.context import CallContext, EventSink
from router.engine.feature_codes import FEATURE_ARG, handle_feature_code
from router.engine.inbound.call import InboundCall
from router.engine.inbound.operators import OPERATOR_ARG
from router.engine.moves import MoveRequest, put_move
from router.engine.reconcile import Reconciler

if TYPE_CHECKING:
    from router.engine.callbacks.dispatch import CallbackDispatcher
    from router.storage.models import CallRow

log = logging.getLogger(__name__)

# A supervisor's phone and its Snoop channel (router/console/supervision.py): not calls.
SUPERVISE_ARG = "supervise"
# Only what the engine reads: every event costs Asterisk CPU to serialise and send
# (about 50 events per call unfiltered: asterisk-behaviour §10). The filter is reset when the app
# object disappears, so it is set again on every connect.
EVENT_TYPES = (
    "StasisStart",
    "StasisEnd",
    "ChannelDestroyed",
    "ChannelHangupRequest",
    "PlaybackFinished",
    "ChannelDtmfReceived",
    "RecordingFinished",
    "RecordingFailed",
    "CallBroadcast",
)


class Engine:
    """Owns every call task; nothing here blocks on one call."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        ctx.channels = self
        self._calls: dict[str, InboundCall] = {}
        self._channels: dict[str, EventSink] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = False
        self.reconciler = Reconciler(self)
        self.calls_started = 0
        self.events_dropped: Counter[str] = Counter()  # by event type, for /metrics
        self.dispatcher: CallbackDispatcher | None = None  # set when callbacks are on

    # -- channel ownership (used by the calls through the context) --------------------------

    def attach(self, channel_id: str, call: EventSink) -> None:
        self._channels[channel_id] = call

    def detach(self, channel_id: str) -> None:
        self._channels.pop(channel_id, None)

    def detach_all(self, call: EventSink) -> None:
        for channel_id in [c for c, owner in self._channels.items() if owner is call]:
            del self._channels[channel_id]
        self._calls.pop(call.id, None)

    def live_calls(self) -> list[InboundCall]:
        return list(self._calls.values())

    def move_waiting(self, call_id: str, request: MoveRequest) -> bool:
        """A supervisor's move, into the waiting call's own queue (its coroutine acts on
        it); False when the call is not ours or not waiting now."""
        call = self._calls.get(call_id)
        if call is None or not self.ctx.room.is_waiting(call_id):
            return False
        return put_move(call.queue, request)

    def owner_of(self, channel_id: str) -> EventSink | None:
        return self._channels.get(channel_id)

    def callback_operators(self) -> frozenset[str]:
        """Operators busy with a callback attempt running here (ringing or talking)."""
        return self.dispatcher.operators_held() if self.dispatcher else frozenset()

    def owned_channels(self) -> frozenset[str]:
        """Every channel a call or callback attempt running here owns."""
        return frozenset(self._channels)

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Called by the event stream for every event, synchronously and in order."""
        if isinstance(event, CallBroadcast):
            self.spawn(self._claim(event.channel.id), f"claim {event.channel.id}")
            return
        if isinstance(event, StasisStart) and event.channel.id not in self._channels:
            if tuple(event.args[:1]) == (FEATURE_ARG,):
                name = f"feature {event.channel.id}"
                self.spawn(handle_feature_code(self.ctx, event), name)
                return
            if tuple(event.args[:1]) == (CALLBACK_ARG,):
                if self.dispatcher is not None:
                    self.dispatcher.stray(event)
                else:
                    self.spawn(hang_up(self.ctx.ari, event.channel.id), f"stray {event.channel.id}")
                return
            if tuple(event.args[:1]) == (SUPERVISE_ARG,):
                return  # the console follows those channels itself
            if tuple(event.args[:1]) == (OPERATOR_ARG,):
                # An operator leg whose call is no longer ours (e.g. answered just after a
                # restart): nobody is waiting for it.
                self.spawn(hang_up(self.ctx.ari, event.channel.id), f"orphan {event.channel.id}")
                return
            self.start_call(
                event.channel.id, event.channel.exten or "", event.channel.caller_number or ""
            )
            return
        delivered: set[int] = set()
        for channel_id in event.channel_ids():
            call = self._channels.get(channel_id)
            if call is not None and id(call) not in delivered:
                delivered.add(id(call))
                self.deliver(call, event)

    def deliver(self, call: EventSink, event: Event | ChannelGone | LegAnswered) -> None:
        try:
            call.queue.put_nowait(event)
        except asyncio.QueueFull:
            # The queue is bounded so that a stuck call cannot grow memory without limit.
            self.events_dropped[type(event).__name__] += 1
            log.error(
                "event queue of call %s is full; event %s dropped", call.id, type(event).__name__
            )

    async def on_connected(self) -> None:
        self.connected = True
        try:
            await self.ctx.ari.set_event_filter(list(EVENT_TYPES))
        except ari_errors.AriError as exc:
            log.warning("could not set the ARI event filter (%s); receiving all events", exc)
        await self.reconciler.run()
        if self.dispatcher is not None:
            await self.dispatcher.resume()

    def on_disconnected(self) -> None:
        self.connected = False

    # -- calls -------------------------------------------------------------------------------

    def start_call(
        self, channel_id: str, did: str, caller_raw: str, resume: Resume | None = None
    ) -> InboundCall | None:
        if channel_id in self._calls:
            return None
        call = InboundCall(self.ctx, channel_id, did, caller_raw, resume)
        self._calls[channel_id] = call
        self._channels[channel_id] = call
        self.calls_started += 1
        self.spawn(self._run_call(call), f"call {channel_id}")
        return call

    def adopt(self, row: CallRow, resume: Resume) -> None:
        self.start_call(row.id, row.did or "", row.caller_raw or "", resume)

    async def _run_call(self, call: InboundCall) -> None:
        try:
            await call.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must not cost the caller the call: hand them to the dialplan fallback.
            log.exception("call %s failed unexpectedly; handing it to the fallback", call.id)
            try:
                await self.ctx.ari.continue_in_dialplan(
                    call.id, self.ctx.settings.fallback_context, call.did or "s", 1
                )
            except ari_errors.AriError as exc:
                log.error("fallback of %s failed: %s", call.id, exc)
            self.detach_all(call)

    async def _claim(self, channel_id: str) -> None:
        try:
            await self.ctx.ari.claim(channel_id)
        except ari_errors.AriConflict:
            log.debug("call %s was claimed by another instance", channel_id)
        except ari_errors.AriError as exc:
            log.warning("claim of %s failed: %s", channel_id, exc)

    # -- task ownership ----------------------------------------------------------------------

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no call task runs (tests, graceful stop)."""
        try:
            async with asyncio.timeout(timeout):
                while self._tasks:
                    await asyncio.gather(*list(self._tasks), return_exceptions=True)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop owning calls. They stay in Asterisk; the next start adopts them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
