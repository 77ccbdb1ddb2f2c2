"""The sandbox's generated Asterisk config and the project dialplan follow contracts.md."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from router.asterisk_config.render import render_dialplan
from sip_test_harness.sandbox_config import (
    OPERATORS,
    AsteriskLayout,
    operator_port,
    render_configs,
    render_pjsip_conf,
)

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan" / "clinic-router.conf"


def sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """Asterisk config as (section, {key: [values]}); repeated sections stay separate."""
    result: list[tuple[str, dict[str, list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            result.append((line[1 : line.index("]")], {}))
        elif "=" in line and result:
            key, value = (part.strip() for part in line.split("=", 1))
            result[-1][1].setdefault(key.rstrip(">").strip(), []).append(value.lstrip(">").strip())
    return result


def test_every_file_is_rendered() -> None:
    files = render_configs(AsteriskLayout(), "[general]\n", "; dialplan")
    assert {
        "asterisk.conf",
        "modules.conf",
        "logger.conf",
        "http.conf",
        "ari.conf",
        "manager.conf",
        "rtp.conf",
        "indications.conf",
        "musiconhold.conf",
        "queues.conf",
        "pjsip.conf",
        "extensions.conf",
        "clinic-router-extensions.conf",
        "clinic-router-queues.conf",
        "clinic-router-http.conf",
        "clinic-router-ari.conf",
        # AGI mode beside it (sip_test_harness/sandbox_agi.py)
        "queuerules.conf",
        "clinic-router-agi.conf",
        "sandbox-agi-entry.conf",
        "clinic-router-agi-queues.conf",
        "clinic-router-agi-queuerules.conf",
    } == set(files)
    assert files["clinic-router-extensions.conf"] == "; dialplan"
    assert "#include clinic-router-extensions.conf" in files["extensions.conf"]
    for host in ("queues", "http", "ari"):
        assert f"#include clinic-router-{host}.conf" in files[f"{host}.conf"]
    assert "astetcdir => /etc/asterisk.clinic" in files["asterisk.conf"]


def test_sandbox_dialplan_is_the_generated_one() -> None:
    files = render_configs(AsteriskLayout(), "")
    assert files["clinic-router-extensions.conf"] == render_dialplan(
        [f"PJSIP/{name}" for name in OPERATORS]
    )


def test_ports_and_credentials_follow_the_contract() -> None:
    files = render_configs(AsteriskLayout(), "")
    http = configparser.ConfigParser()
    http.read_string(files["clinic-router-http.conf"].replace("[general](+)", "[general]"))
    assert (http["general"]["bindaddr"], http["general"]["bindport"]) == ("127.0.0.1", "8088")
    ari = dict(sections(files["clinic-router-ari.conf"]))
    assert ari["clinic-router"]["password"] == ["clinic-router-secret"]
    manager = dict(sections(files["manager.conf"]))
    assert manager["general"]["port"] == ["5038"]
    assert manager["clinic-router"]["secret"] == ["clinic-router-secret"]
    assert "rtpstart = 20000" in files["rtp.conf"] and "rtpend = 23999" in files["rtp.conf"]
    queue = dict(sections(files["clinic-router-queues.conf"]))["clinic-router-fallback"]
    assert queue["member"] == [f"PJSIP/{name}" for name in OPERATORS]
    assert queue["timeout"] == ["15"]


def test_pjsip_identifies_each_sipp_by_its_port() -> None:
    parsed = sections(render_pjsip_conf())
    matches = {
        values["endpoint"][0]: values["match"][0]
        for _, values in parsed
        if values.get("type") == ["identify"]
    }
    assert matches["trunk"] == ",".join(f"127.0.0.1:{p}" for p in range(5061, 5070))
    for name in OPERATORS:
        assert matches[name] == f"127.0.0.1:{operator_port(name)}"
    assert matches["patients"] == "127.0.0.1:5080"
    transport = dict(parsed)["transport-udp"]
    assert transport["bind"] == ["127.0.0.1:5060"]


def test_pjsip_phones_and_contacts() -> None:
    aors = {name: values for name, values in sections(render_pjsip_conf()) if "contact" in values}
    assert aors["op1001"]["contact"] == ["sip:op1001@127.0.0.1:5071"]
    assert aors["op1008"]["contact"] == ["sip:op1008@127.0.0.1:5078"]
    assert aors["patients"]["contact"] == ["sip:127.0.0.1:5080"]
    assert aors["lop200"]["contact"] == ["sip:lop200@127.0.0.1:5100"]
    assert len([n for n in aors if n.startswith("lop")]) == 200
    template = dict(sections(render_pjsip_conf()))["clinic-endpoint"]
    assert template["direct_media"] == ["no"] and template["media_address"] == ["127.0.0.1"]
    assert template["allow"] == ["!all,ulaw,alaw"]


def test_each_qualify_has_its_result_before_the_next_is_sent() -> None:
    # Asterisk applies OPTIONS results as they complete: a timeout as long as the period
    # let the one sent before a phone started land after the next one's answer, and the
    # fresh phone read offline for a period (the flaky busy-and-unreachable test)
    aors = {name: values for name, values in sections(render_pjsip_conf()) if "contact" in values}
    assert {"op1001", "patients", "lop001"} <= set(aors)
    for name, aor in aors.items():
        period, timeout = float(aor["qualify_frequency"][0]), float(aor["qualify_timeout"][0])
        assert 0 < timeout <= period / 2, name
    assert aors["op1003"]["qualify_frequency"] == ["1"]  # phones' state follows in a second


def test_dialplan_follows_the_contract() -> None:
    text = DIALPLAN.read_text()
    contexts = dict(sections(text.replace("exten =>", "exten =")))
    assert set(contexts) >= {
        "clinic-router-inbound",
        "clinic-router-entry",
        "clinic-router-fallback",
        "clinic-router-operators",
    }
    inbound = contexts["clinic-router-inbound"]["exten"]
    assert inbound == [
        "_X.,1,Goto(clinic-router-entry,${EXTEN},1)",
        "_+X.,1,Goto(clinic-router-entry,${EXTEN},1)",
    ]
    entry = re.search(r"^\[clinic-router-entry\](.*?)\n\[", text, re.S | re.M)
    assert entry is not None
    assert "StasisBroadcast(1000,^clinic-router)\n" in entry.group(1)
    assert "CALLERID" not in entry.group(1)  # no caller data near Stasis
    fallback = re.search(r"^\[clinic-router-fallback\](.*?)\n\[", text, re.S | re.M)
    assert fallback is not None
    steps = re.findall(r"same => n,(\w+)\(", fallback.group(1))
    assert steps == ["Set", "Set", "Set", "Ringing", "Queue", "Dial", "Playback", "Hangup"]
    answered = "clinic-router-fallback-answered"
    assert f"Queue(clinic-router-fallback,t,,,120,,{answered}\\,${{CHANNEL}})" in fallback.group(1)
    operators = "&".join(f"PJSIP/{name}" for name in OPERATORS)
    assert f"Dial({operators},30,U({answered}^${{CHANNEL}}))" in fallback.group(1)
    assert "Set(CHANNEL(hangup_handler_push)=clinic-router-fallback-end,s,1)" in fallback.group(1)
    assert "FILTER(0-9+,${EXTEN})" in fallback.group(1)


def test_fallback_records_only_filtered_caller_data() -> None:
    contexts = dict(sections(DIALPLAN.read_text().replace("exten =>", "exten =")))
    assert {"clinic-router-fallback-answered", "clinic-router-astdb"} <= set(contexts)
    handler = contexts["clinic-router-fallback-end"]
    [record] = [v for v in handler["same"] if "DB(clinic-router-missed/" in v]
    # Every ${...} in the key is Asterisk's own value, or filtered to digits and '+'.
    assert re.findall(r"\$\{(\w+)", record) == [
        "UNIQUEID",
        "EPOCH",
        "CR_FALLBACK_START",
        "CR_FALLBACK_DID",
        "FILTER",
        "CALLERID",
    ]
    assert "${FILTER(0-9+,${CALLERID(num)})}" in record
