""" "Keep my place, call me back": a waiting caller presses a key, confirms their number
(or types another), hears when to expect the call and hangs up; the task keeps their
original place and priority in the waiting room.

Typed numbers are untrusted input: digits only, at most 15, parsed and validated like a
caller ID (`normalise_caller`) in the line's region.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from router.ari.events import ChannelDtmfReceived
from router.domain.calendar import is_open
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome
from router.domain.dispatch import Place
from router.domain.miss_target import MissTarget
from router.domain.phone import normalise_caller
from router.domain.wait_resume import KEEP_PLACE_EVENT, KEEP_PLACE_MISS
from router.engine.call_base import CallEvent
from router.engine.call_operators import CallOperators, Wanted
from router.engine.call_state import MissFacts
from router.engine.callback_attempt_state import calling_hours
from router.engine.waiting_room import OperatorOffer

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


class TurnCame(Exception):
    """An operator was offered while the caller was answering the callback questions."""

    def __init__(self, operator_id: str) -> None:
        super().__init__(operator_id)
        self.operator_id = operator_id


class CallKeepPlace(CallOperators):
    _in_keep_dialog = False
    miss_target: MissTarget | None = None  # what the call waits for (set by the walk)

    def _keep_place_key(self) -> str | None:
        return self.ctx.settings.keep_place_key if self.ctx.keep_place is not None else None

    def _decline_offer(self, event: CallEvent) -> None:
        if self._in_keep_dialog and isinstance(event, OperatorOffer):
            raise TurnCame(event.operator_id)  # their turn: put them through instead
        super()._decline_offer(event)

    async def _keep_place(self, wanted: Wanted, estimate_s: float | None) -> str | None:
        """The caller pressed the key while waiting for `wanted`: ask for the number and
        promise the call (`left_to_call_back`). Returns an operator the waiting room
        offered meanwhile (the caller is put back in the bridge for them), else None."""
        await self._unhold()
        self._in_keep_dialog = True
        try:
            number = await self._callback_number()
        except TurnCame as turn:
            await self._rejoin()
            return turn.operator_id
        finally:
            self._in_keep_dialog = False
        if number is None:
            await self._rejoin()
            return None
        assert self.waiting_since is not None and self.ctx.keep_place is not None
        now = self.ctx.now()
        waited = self.ctx.clock() - self.waiting_since
        place_at = now - timedelta(seconds=waited)
        line = self.line.id if self.line else None
        eligible = wanted.eligible_at(waited) - set(self.tried) or wanted.eligible_at(waited)
        own = self.caller_e164 or number  # a withheld caller who typed a number: that one
        self.ctx.record_miss(
            MissFacts(self.id, own, self.patient_id, line, self.miss_target),
            MissReason.REQUESTED,
            waited,
            label=KEEP_PLACE_MISS,
            rules=self.rules,
            place_at=place_at,
            callback_number=number if number != own else None,
            preferred_operator=self.assigned_operator,
        )
        # The task takes over the place: written now, so the dispatcher claims it at once.
        # A router that dies before the keep_place event below lands finds this miss in the
        # ledger on restart and does not resume the wait (reconcile).
        await self.ctx.recorder.flush(2.0)
        self.ctx.room.leave(self.id)
        self.ctx.keep_place(number, Place(self.waiting_since, wanted.priority, eligible))
        self._event(KEEP_PLACE_EVENT, {"waited_s": round(waited, 1), "estimate_s": estimate_s})
        self.outcome = Outcome.CALLBACK
        self.left_to_call_back = True
        await self._play(self._promise(estimate_s, now), limit_s=30)
        return None

    async def _rejoin(self) -> None:
        """Back into the call's bridge with music (after `_unhold`)."""
        await self._stop_playback()
        await self._add_to_bridge(self.id)
        await self._guard(
            self.ctx.ari.start_bridge_moh(self.bridge_id, self.ctx.settings.moh_class)
        )

    async def _callback_number(self) -> str | None:
        """The caller's own number (key 1, or no key at all: they already asked to be
        called back) or one they type ending with #; None if no valid number."""
        line = self.line
        for _ in range(2):
            typed = await self._collect_digits([ASK_PROMPT])
            if typed in ("", CONFIRM_KEY) and self.caller_e164 is not None:
                return self.caller_e164
            if typed and typed != CONFIRM_KEY:
                caller = normalise_caller(
                    typed,
                    region=self.ctx.settings.region,
                    area_code=line.area_code if line else None,
                )
                if caller.e164 is not None:
                    return caller.e164
            await self._play([INVALID_PROMPT], limit_s=15)
        return None

    async def _collect_digits(self, prompts: list[str]) -> str:
        """Keys until #, a pause, or 15 digits; only 0-9 are kept."""
        first = await self._ask_key(prompts, DIGIT_TIMEOUT_S)
        if first is None or first == END_KEY:
            return ""
        digits = first if first.isdigit() else ""
        if digits == CONFIRM_KEY:
            return digits  # "this number": no # needed
        while len(digits) < MAX_DIGITS:
            event = await self._next(DIGIT_TIMEOUT_S)
            if event is None:
                break
            if isinstance(event, ChannelDtmfReceived) and event.channel.id == self.id:
                if event.digit == END_KEY:
                    break
                if event.digit.isdigit():
                    digits += event.digit
            else:
                self._decline_offer(event)
        return digits

    def _promise(self, estimate_s: float | None, now: datetime) -> list[str]:
        calendar = calling_hours(self.ctx, self.line.id if self.line else None)
        if calendar is not None and not is_open(calendar, now.astimezone(UTC)).open:
            return [PROMISE_PROMPT, OPENING_PROMPT]
        if estimate_s is None:
            return [PROMISE_PROMPT]
        minutes = max(1, round(estimate_s / 60))
        return [PROMISE_PROMPT, WITHIN_PROMPT, f"number:{minutes}", "queue-minutes"]
