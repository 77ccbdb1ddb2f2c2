""" "Keep my place, call me back": a waiting caller presses a key, confirms their number
(or types another), and hangs up; the callback task keeps their original place and
priority in the waiting room.

Typed numbers are untrusted input: digits only, at most 15, parsed and validated like a
caller ID (`normalise_caller`) in the line's region. The caller keeps their place in
the room while they answer: if their turn comes meanwhile, they are put through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from router.ari.events import ChannelDtmfReceived
from router.config.rules import Rules
from router.domain.calendar import is_open
from router.domain.callback_policy import MissReason
from router.domain.dispatch import Place
from router.domain.phone import normalise_caller
from router.domain.wait_resume import KEEP_PLACE_EVENT, KEEP_PLACE_MISS
from router.engine.callbacks.attempt_state import calling_hours
from router.engine.context import CallContext
from router.engine.inbound.bridge import CallBridge
from router.engine.inbound.caller import Caller
from router.engine.inbound.channel import CallerChannel, OperatorOffered
from router.engine.inbound.prompts import Prompts

CONFIRM_KEY = "1"
END_KEY = "#"
MAX_DIGITS = 15
DIGIT_TIMEOUT_S = 6.0
# "press 1 or wait to be called back on this number, or type another one, then #"
ASK_PROMPT = "clinic-callback-confirm"
INVALID_PROMPT = "clinic-callback-invalid-number"
PROMISE_PROMPT = "clinic-callback-promise"  # "we will call you back"
WITHIN_PROMPT = "clinic-callback-within"  # "within about"
OPENING_PROMPT = "clinic-callback-opening-hours"  # "when the clinic opens"


@dataclass(frozen=True, slots=True)
class Kept:
    """The caller leaves the line: their task holds the place; they hear `promise`."""

    promise: list[str]


@dataclass(frozen=True, slots=True)
class TurnCame:
    """An operator was offered while the caller answered: put them through."""

    operator_id: str


@dataclass
class KeepPlace:
    """The dialog, offered while a caller waits in a queue (when the router has it on)."""

    channel: CallerChannel
    prompts: Prompts
    bridge: CallBridge
    caller: Caller
    rules: Rules

    @property
    def ctx(self) -> CallContext:
        return self.channel.ctx

    @property
    def key(self) -> str | None:
        """The key that asks for it (None: the router offers no callback to waiters)."""
        return self.ctx.settings.keep_place_key if self.ctx.keep_place is not None else None

    async def ask(
        self, place: Place, waited_s: float, estimate_s: float | None
    ) -> Kept | TurnCame | None:
        """The caller pressed the key: ask for the number; with one, the miss and the
        place go to the callback dispatcher. None: no valid number (back to waiting)."""
        await self.bridge.unhold()
        try:
            with self.channel.turn_interrupts():
                number = await self._callback_number()
        except OperatorOffered as offered:
            await self.bridge.rejoin()
            return TurnCame(offered.operator_id)
        if number is None:
            await self.bridge.rejoin()
            return None
        assert self.ctx.keep_place is not None
        now = self.ctx.now()
        own = self.caller.e164 or number  # a withheld caller who typed a number: that one
        self.ctx.record_miss(
            self.caller.miss(own),
            MissReason.REQUESTED,
            waited_s,
            label=KEEP_PLACE_MISS,
            rules=self.rules,
            place_at=now - timedelta(seconds=waited_s),
            callback_number=number if number != own else None,
            preferred_operator=self.caller.assigned_operator,
        )
        # The task takes over the place: written now, so the dispatcher claims it at once.
        # A router that dies before the keep_place event below lands finds this miss in the
        # ledger on restart and does not resume the wait (reconcile).
        await self.ctx.recorder.flush(2.0)
        self.channel.seat.leave()
        self.ctx.keep_place(number, place)
        self.channel.event(
            KEEP_PLACE_EVENT, {"waited_s": round(waited_s, 1), "estimate_s": estimate_s}
        )
        return Kept(self._promise(estimate_s, now))

    async def _callback_number(self) -> str | None:
        """The caller's own number (key 1, or no key at all: they already asked to be
        called back) or one they type ending with #; None if no valid number."""
        line = self.caller.line
        for _ in range(2):
            typed = await self._collect_digits([ASK_PROMPT])
            if typed in ("", CONFIRM_KEY) and self.caller.e164 is not None:
                return self.caller.e164
            if typed and typed != CONFIRM_KEY:
                found = normalise_caller(
                    typed,
                    region=self.ctx.settings.region,
                    area_code=line.area_code if line else None,
                )
                if found.e164 is not None:
                    return found.e164
            await self.prompts.play([INVALID_PROMPT], limit_s=15)
        return None

    async def _collect_digits(self, prompts: list[str]) -> str:
        """Keys until #, a pause, or 15 digits; only 0-9 are kept."""
        first = await self.prompts.ask_key(prompts, DIGIT_TIMEOUT_S)
        if first is None or first == END_KEY:
            return ""
        digits = first if first.isdigit() else ""
        if digits == CONFIRM_KEY:
            return digits  # "this number": no # needed
        while len(digits) < MAX_DIGITS:
            event = await self.channel.next(DIGIT_TIMEOUT_S)
            if event is None:
                break
            if isinstance(event, ChannelDtmfReceived) and event.channel.id == self.channel.id:
                if event.digit == END_KEY:
                    break
                if event.digit.isdigit():
                    digits += event.digit
            else:
                self.channel.aside(event)
        return digits

    def _promise(self, estimate_s: float | None, now: datetime) -> list[str]:
        calendar = calling_hours(self.ctx, self.caller.line_id)
        if calendar is not None and not is_open(calendar, now.astimezone(UTC)).open:
            return [PROMISE_PROMPT, OPENING_PROMPT]
        if estimate_s is None:
            return [PROMISE_PROMPT]
        minutes = max(1, round(estimate_s / 60))
        return [PROMISE_PROMPT, WITHIN_PROMPT, f"number:{minutes}", "queue-minutes"]
