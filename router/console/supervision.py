"""Listen, whisper and barge: a supervisor's own phone joins an operator's call through
an ARI Snoop channel on the operator's leg.

listen: the supervisor hears both sides, nobody hears them; whisper: only the operator
hears them; barge: both the operator and the caller hear them. The snoop and the
supervisor's phone meet in a bridge of their own (`sv-…`: not one of the calls' `cr-…`
bridges, which the engine owns); both channels are in our Stasis app with the argument
`supervise`, which the engine leaves alone. The session ends when either phone hangs
up; what it created is then hung up and deleted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from router.ari import errors as ari_errors
from router.ari.client import AriClient
from router.engine.engine import SUPERVISE_ARG

log = logging.getLogger(__name__)

BRIDGE_PREFIX = "sv-"
# mode -> (spy, whisper) on the operator's channel
MODES: dict[str, tuple[str, str]] = {
    "listen": ("both", "none"),
    "whisper": ("both", "out"),
    "barge": ("both", "both"),
}
RING_S = 30
POLL_S = 0.5
STASIS_WAIT_S = 2.0  # a new channel's StasisStart follows its creation within milliseconds
STASIS_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    operator_leg: str
    phone: str
    mode: str

    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.id}"

    @property
    def snoop(self) -> str:
        return f"{BRIDGE_PREFIX}{self.id}-snoop"

    @property
    def leg(self) -> str:
        return f"{BRIDGE_PREFIX}{self.id}-phone"


class Supervision:
    """Starts supervision sessions and owns the task watching each one."""

    def __init__(self, ari: AriClient, clock: Callable[[], float]) -> None:
        self._ari = ari
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.active: dict[str, Session] = {}

    async def start(self, operator_leg: str, phone: str, mode: str) -> Session:
        """Snoop on `operator_leg` and ring `phone` (e.g. PJSIP/op1008); raises AriError."""
        spy, whisper = MODES[mode]
        session = Session(secrets.token_hex(6), operator_leg, phone, mode)
        ari = self._ari
        args = [SUPERVISE_ARG, session.id]
        await ari.snoop(
            operator_leg, snoop_id=session.snoop, spy=spy, whisper=whisper, app_args=args
        )
        try:
            await ari.create_bridge(session.bridge, "mixing", "supervision")
            await self._add(session.bridge, session.snoop)
            await ari.originate(phone, channel_id=session.leg, app_args=args, timeout_s=RING_S)
        except ari_errors.AriError:
            await self._tear_down(session)
            raise
        task = asyncio.create_task(self._follow(session), name=f"supervision {session.id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        self.active[session.id] = session
        return session

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("supervision session failed", exc_info=task.exception())

    async def _follow(self, session: Session) -> None:
        """Put the phone in the bridge once answered; end when either side is gone."""
        try:
            deadline = self._clock() + RING_S + 5
            while True:
                phone = await self._state(session.leg)
                if phone == "Up":
                    break
                if phone is None or self._clock() > deadline:
                    return
                await asyncio.sleep(POLL_S)  # ARI events go to the engine, not here
            await self._add(session.bridge, session.leg)
            while await self._state(session.leg) and await self._state(session.operator_leg):  # noqa: ASYNC110
                await asyncio.sleep(POLL_S)  # polled: the channels' events go to the engine
        finally:
            self.active.pop(session.id, None)
            await self._tear_down(session)

    async def _add(self, bridge: str, channel: str) -> None:
        """Put `channel` in `bridge` once it is in our Stasis app. A snoop's channel is
        created (200) a moment before its StasisStart: `addChannel` in between answers
        422 "not in Stasis" (seen in the sandbox: the supervisor's phone never rang)."""
        deadline = self._clock() + STASIS_WAIT_S
        while True:
            try:
                await self._ari.add_channel(bridge, [channel])
                return
            except ari_errors.AriBadRequest as exc:
                if exc.status != 422 or self._clock() > deadline:
                    raise
            await asyncio.sleep(STASIS_POLL_S)

    async def _state(self, channel_id: str) -> str | None:
        try:
            return (await self._ari.get_channel(channel_id)).state
        except ari_errors.AriNotFound:
            return None

    async def _tear_down(self, session: Session) -> None:
        for channel in (session.leg, session.snoop):
            try:
                await self._ari.hangup(channel)
            except ari_errors.AriError:
                pass  # already gone
        try:
            await self._ari.delete_bridge(session.bridge)
        except ari_errors.AriError:
            pass

    async def close(self) -> None:
        """Server stopping: end every session (the phones are hung up)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
