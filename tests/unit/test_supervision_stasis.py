"""A supervision session adds the snoop to its bridge once the snoop is in Stasis: the
snoop channel exists (POST answered 200) a moment before its StasisStart, and an
`addChannel` in between answers 422 (the sandbox's supervisor phone then never rang)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from router.ari import errors as ari_errors
from router.console.supervision import STASIS_WAIT_S, Supervision


class _Ari:
    """The calls `Supervision.start` makes; `addChannel` of the snoop refused with 422
    `early` times, as Asterisk does before the snoop's StasisStart."""

    def __init__(self, early: int) -> None:
        self.early = early
        self.calls: list[tuple[str, Any]] = []

    async def snoop(self, channel: str, **kwargs: Any) -> None:
        self.calls.append(("snoop", channel))

    async def create_bridge(self, bridge: str, *args: Any) -> None:
        self.calls.append(("bridge", bridge))

    async def add_channel(self, bridge: str, channels: list[str]) -> None:
        self.calls.append(("add", channels[0]))
        if self.early:
            self.early -= 1
            path = f"/bridges/{bridge}/addChannel"
            raise ari_errors.AriBadRequest(422, "Channel not in Stasis application", "POST", path)

    async def originate(self, phone: str, **kwargs: Any) -> None:
        self.calls.append(("originate", phone))

    async def hangup(self, channel: str) -> None:
        self.calls.append(("hangup", channel))

    async def delete_bridge(self, bridge: str) -> None:
        self.calls.append(("delete", bridge))

    async def get_channel(self, channel: str) -> Any:
        raise ari_errors.AriNotFound(404, "Channel not found", "GET", f"/channels/{channel}")


async def test_the_snoop_is_added_once_in_stasis_and_the_phone_rung() -> None:
    ari = _Ari(early=2)
    supervision = Supervision(ari, clock=itertools.count().__next__)  # type: ignore[arg-type]
    session = await supervision.start("op-leg", "PJSIP/op1003", "listen")
    adds = [c for c in ari.calls if c[0] == "add"]
    assert adds == [("add", session.snoop)] * 3
    assert ("originate", "PJSIP/op1003") in ari.calls
    await supervision.close()


async def test_a_snoop_never_in_stasis_ends_the_session_with_the_error() -> None:
    ari = _Ari(early=10**6)
    clock = itertools.count(step=0.5).__next__  # past STASIS_WAIT_S after a few tries
    supervision = Supervision(ari, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ari_errors.AriBadRequest):
        await supervision.start("op-leg", "PJSIP/op1003", "listen")
    assert len([c for c in ari.calls if c[0] == "add"]) <= STASIS_WAIT_S / 0.5 + 2
    assert ("originate", "PJSIP/op1003") not in ari.calls
    assert any(c[0] == "delete" for c in ari.calls)
