"""The fake Asterisk's small world: channels, bridges, playbacks, as Asterisk renders them.

Every JSON object starts from the recorded one (``recorded.py``) and gets this object's
values, so the router parses exactly the shape Asterisk 22 sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tests.fakeari import recorded
from tests.fakeari.recorded import Json

# Where a channel is: in a Stasis app (the router's), in the dialplan (handed over with
# `continue`, or never claimed), or gone.
Location = Literal["ringing", "broadcast", "stasis", "dialplan", "gone"]
# How a phone treats an originate (as the SIPp phones of the real-Asterisk tier do);
# "manual": rings until the test says answer / ring out / busy.
PhoneBehaviour = Literal["answer", "busy", "never", "manual", "offline"]


@dataclass
class FakeChannel:
    id: str
    name: str
    caller_number: str = ""
    connected_number: str = ""
    exten: str = "s"
    context: str = ""
    app_name: str = ""
    app_data: str = ""
    state: str = "Ring"
    location: Location = "ringing"
    app: str | None = None  # the Stasis app subscribed to it
    args: list[str] = field(default_factory=list)
    did: str = ""
    endpoint: str | None = None  # PJSIP/op1001 for an originated leg
    bridge: str | None = None
    answered_by_router: bool = False
    hung_up_by: str | None = None  # "caller" (the test), "router" (DELETE), "asterisk"
    variables: dict[str, str] = field(default_factory=dict)

    def json(self) -> Json:
        data = recorded.body("channel")
        data.update(id=self.id, name=self.name, state=self.state, creationtime=recorded.now())
        data["caller"] = {"name": "", "number": self.caller_number}
        data["connected"] = {"name": "", "number": self.connected_number}
        data["dialplan"] = {
            "app_data": self.app_data,
            "app_name": self.app_name,
            "context": self.context,
            "exten": self.exten,
            "priority": 1,
        }
        data["channelvars"] = {"DID": self.did}
        return data

    @property
    def alive(self) -> bool:
        return self.location != "gone"


@dataclass
class FakeBridge:
    id: str
    name: str = ""
    bridge_type: str = "mixing"
    channels: list[str] = field(default_factory=list)
    moh: bool = False

    def json(self) -> Json:
        data = recorded.body("bridge_create")
        data.update(id=self.id, name=self.name, bridge_type=self.bridge_type)
        data["channels"] = list(self.channels)
        data["creationtime"] = recorded.now()
        return data


@dataclass
class FakePlayback:
    id: str
    media: list[str]
    target: str  # channel:<id> / bridge:<id>
    language: str = "en"
    state: str = "playing"

    def json(self) -> Json:
        data = recorded.body("play")
        data.update(
            id=self.id,
            media_uri=self.media[0],
            target_uri=self.target,
            language=self.language,
            state=self.state,
        )
        if len(self.media) > 1:
            data["next_media_uri"] = self.media[1]
        else:
            data.pop("next_media_uri", None)
        return data

    @property
    def endless(self) -> bool:
        """Tones play until stopped (asterisk-behaviour §9)."""
        return any(m.startswith("tone:") for m in self.media)
