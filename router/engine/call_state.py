"""Plain values a call coroutine works with: what a restart knows, how a caller leaves,
and which events concern which channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from router.ari.events import ChannelDestroyed, ChannelHangupRequest, StasisEnd
from router.domain.miss_target import MissTarget

# The names the router gives what it creates in Asterisk (`cr-<call>`, `<call>-op<n>`,
# `cb-…`) are decided beside the reconcile plan, which finds them again after a restart.
from router.domain.reconcile_plan import BRIDGE_PREFIX, CALLBACK_PREFIX, LEG_MARK, AdoptedRing
from router.domain.wait_resume import WaitRecord

__all__ = [
    "BRIDGE_PREFIX",
    "CALLBACK_PREFIX",
    "LEG_MARK",
    "AdoptedRing",
    "CallerGone",
    "ChannelGone",
    "LegAnswered",
    "MissFacts",
    "Resume",
    "channel_of",
    "is_terminal",
]


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """Synthetic event: a channel was found missing on reconnect (Asterisk replays nothing)."""

    channel_id: str
    cause: int | None = None
    asterisk_gone: bool = False  # Asterisk restarted meanwhile: the channel went with it

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel_id,)


@dataclass(frozen=True, slots=True)
class LegAnswered:
    """Synthetic event: an operator leg found `Up` on reconnect while its call still waits
    for it to answer. Its StasisStart came while the socket was down and was lost."""

    channel_id: str

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel_id,)


@dataclass(frozen=True, slots=True)
class MissFacts:
    """Who missed: what the ledger needs of a call (live, or found closed on reconnect)."""

    call_id: str
    number: str | None  # E.164; None for a withheld or invalid caller ID
    patient_id: str | None = None
    line: str | None = None
    target: MissTarget | None = None  # where it was meant to go: who may call it back


class CallerGone(Exception):
    """The caller's channel ended (hang-up, or Asterisk went away)."""

    def __init__(self, cause: int | None = None, asterisk_shutdown: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.asterisk_shutdown = asterisk_shutdown


@dataclass
class Resume:
    """What a restarted router knows about a call it adopts."""

    tried: list[str] = field(default_factory=list)
    bridged_with: str | None = None  # operator channel id when the call is already talking
    operator_id: str | None = None
    patient_id: str | None = None
    caller_e164: str | None = None
    # What the caller was waiting for (their journey's last `waiting` event); None: not
    # waiting yet (still in the menus), or nothing was recorded.
    wait: WaitRecord | None = None
    ringing: AdoptedRing | None = None
    talk_over: bool = False  # it talked, and the operator left while nobody listened
    # When the call arrived (its row's start): what a miss counts as waited, not the
    # adoption, or a caller who waited through the restart hangs up "after 0 s", under the
    # policy's min_abandon_s, and gets no callback.
    started_at: datetime | None = None


def channel_of(event: object) -> str | None:
    if isinstance(event, (ChannelGone, LegAnswered)):
        return event.channel_id
    channel = getattr(event, "channel", None)
    return getattr(channel, "id", None)


def is_terminal(event: object) -> bool:
    return isinstance(event, (ChannelDestroyed, StasisEnd, ChannelHangupRequest, ChannelGone))
