"""SIPp scenarios render to well-formed XML with the values asked for."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sip_test_harness.scenarios import (
    PCAP_DIR,
    SCENARIO_DIR,
    WAIT_FOREVER_MS,
    Behaviour,
    caller_scenario,
    cancel_scenario,
    dtmf_elements,
    render,
)
from sip_test_harness.sipp_process import SippRun, media_port


def parse(xml: str) -> ET.Element:
    # ElementTree cannot fetch sipp.dtd; drop the DOCTYPE line
    return ET.fromstring(
        "\n".join(line for line in xml.splitlines() if not line.startswith(("<?xml", "<!DOCTYPE")))
    )


def test_every_template_has_its_own_folder() -> None:
    names = sorted(p.parent.name for p in SCENARIO_DIR.glob("*/scenario.xml"))
    assert names == [
        "caller",
        "caller_cancel",
        "day_caller",
        "phone_answer",
        "phone_busy",
        "phone_never",
    ]


def test_caller_waits_for_bye_when_no_hangup_is_asked() -> None:
    root = parse(caller_scenario())
    bye = [e for e in root if e.tag == "recv" and e.get("request") == "BYE"]
    assert bye[0].get("timeout") == str(WAIT_FOREVER_MS)
    assert not [e for e in root if e.tag == "nop"]  # no DTMF


def test_caller_hangs_up_and_sends_dtmf() -> None:
    root = parse(caller_scenario(dtmf="1*#", hangup_after=2.5, dtmf_delay=0.5))
    bye = next(e for e in root if e.tag == "recv" and e.get("request") == "BYE")
    assert (bye.get("timeout"), bye.get("ontimeout")) == ("2500", "hangup")
    pcaps = [x.get("play_pcap_audio", "") for x in root.findall("nop/action/exec")]
    assert [Path(p).name for p in pcaps] == [
        "dtmf_2833_1.pcap",
        "dtmf_2833_star.pcap",
        "dtmf_2833_pound.pcap",
    ]
    if PCAP_DIR.exists():  # sip-tester installed: the names are real files
        assert all(Path(p).exists() for p in pcaps)
    pauses = [e.get("milliseconds") for e in root if e.tag == "pause"]
    assert pauses == ["500", "300", "300", "300"]


def test_dtmf_rejects_unknown_digits() -> None:
    with pytest.raises(ValueError, match="'A'"):
        dtmf_elements("1A")


def test_comma_in_dtmf_is_a_one_second_pause() -> None:
    assert dtmf_elements("1,2", delay=0.2).count('<pause milliseconds="1000"/>') == 1


def test_cancel_scenario_cancels_on_every_provisional_wait() -> None:
    root = parse(cancel_scenario(3))
    waits = [e for e in root if e.tag == "recv" and e.get("ontimeout") == "cancel"]
    assert [e.get("response") for e in waits] == ["100", "180", "183", "200"]
    assert {e.get("timeout") for e in waits} == {"3000"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("answer", Behaviour()),
        ("busy", Behaviour(kind="busy")),
        ("never", Behaviour(kind="never")),
        ("delay:2.5", Behaviour(answer_after=2.5)),
    ],
)
def test_behaviour_specs(spec: str, expected: Behaviour) -> None:
    assert Behaviour.parse(spec) == expected


@pytest.mark.parametrize("spec", ["delay", "delay:x", "ring", ""])
def test_bad_behaviour_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown phone behaviour"):
        Behaviour.parse(spec)


def test_answering_phone_rings_then_holds() -> None:
    root = parse(Behaviour(answer_after=0, hold=5).scenario())
    cancel = next(e for e in root if e.tag == "recv" and e.get("request") == "CANCEL")
    assert cancel.get("timeout") == "1"  # 0 would mean "no timeout" to SIPp
    bye = next(e for e in root if e.tag == "recv" and e.get("request") == "BYE")
    assert bye.get("timeout") == "5000"


def test_a_talking_phone_plays_its_audio_after_the_answer_to_the_port_given() -> None:
    plain = Behaviour().scenario()
    assert "play_pcap_audio" not in plain and "m=audio [media_port] " in plain
    pcap = Path("/usr/share/sip-tester/g711a.pcap")
    talking = Behaviour(audio=pcap, sdp_port=40000).scenario()
    assert "m=audio 40000 RTP/AVP" in talking
    root = parse(talking)
    ack = [i for i, e in enumerate(root) if e.tag == "recv" and e.get("request") == "ACK"][-1]
    played = root[ack + 1].find("action/exec")
    assert played is not None and played.get("play_pcap_audio") == str(pcap)


@pytest.mark.parametrize("kind", ["answer", "never", "busy"])
def test_phones_answer_qualify_options(kind: str) -> None:
    root = parse(Behaviour(kind=kind).scenario())  # type: ignore[arg-type]
    first = next(iter(root))
    assert (first.get("request"), first.get("next")) == ("OPTIONS", "options")


def test_render_insists_on_every_placeholder() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        render("caller", dtmf="")


def test_sipp_argv_has_pinned_defaults(tmp_path: Path) -> None:
    run = SippRun(
        name="caller-5061",
        scenario=tmp_path / "c.xml",
        port=5061,
        log_dir=tmp_path,
        max_calls=1,
        timeout=20,
        remote="127.0.0.1:5060",
        service="+74952232222",
        variables={"from_user": "7916 [x]"},
        timeout_is_error=True,
    )
    argv = run.argv()
    assert argv[0] == "sipp" and argv[-1] == "127.0.0.1:5060"
    pairs = dict(itertools.pairwise(argv))
    assert pairs["-p"] == "5061" and pairs["-mp"] == str(media_port(5061))
    assert pairs["-m"] == "1" and pairs["-timeout"] == "20s" and pairs["-s"] == "+74952232222"
    assert argv[argv.index("-set") + 1 : argv.index("-set") + 3] == ["from_user", "7916 [x]"]
    assert "-aa" in argv and "-timeout_error" in argv and "-nostdin" in argv


def test_media_ports_never_overlap() -> None:
    ports = [5061 + i for i in range(9)] + [5071 + i for i in range(8)] + [5080, 5100]
    blocks = [set(range(media_port(p), media_port(p) + 4)) for p in ports]
    assert sum(len(b) for b in blocks) == len(set().union(*blocks))
    assert max(media_port(p) for p in ports) < 20000  # below Asterisk's RTP range
