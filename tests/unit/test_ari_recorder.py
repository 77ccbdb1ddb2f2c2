"""The ARI recorder's own logic (the recording itself needs the sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

from sip_test_harness.ari_recorder import Tape, of


def test_an_event_is_matched_by_type_channel_and_fields() -> None:
    dial = {"type": "Dial", "peer": {"id": "1.2-op1"}, "dialstatus": "ANSWER"}
    played = {"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "channel:1.2"}}
    assert of("Dial", "1.2-op1", dialstatus="ANSWER")(dial)
    assert not of("Dial", "1.2-op1", dialstatus="BUSY")(dial)
    assert not of("Dial", "1.2")(dial)
    assert of("PlaybackFinished", "1.2")(played)
    assert not of("StasisStart")(dial)


def test_the_tape_keeps_the_first_sample_and_names_the_asterisk(tmp_path: Path) -> None:
    tape = Tape()
    tape.keep_event("StasisStart", {"type": "StasisStart", "n": 1})
    tape.keep_event("StasisStart", {"type": "StasisStart", "n": 2})
    tape.sequence += ["StasisStart", "StasisStart"]
    tape.dump(tmp_path, "22.10.1")
    events = json.loads((tmp_path / "events.json").read_text(encoding="utf-8"))
    rest = json.loads((tmp_path / "rest.json").read_text(encoding="utf-8"))
    assert events["events"]["StasisStart"]["n"] == 1
    assert events["asterisk"] == rest["asterisk"] == "22.10.1"
    assert events["sequence"] == ["StasisStart", "StasisStart"]
