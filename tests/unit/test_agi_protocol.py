"""The FastAGI wire format: headers, replies, and arguments that cannot break a command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.agi.protocol import (
    MAX_HEADER_BYTES,
    AgiProtocolError,
    command_line,
    digit_of,
    parse_reply,
    parse_request,
)

# As Asterisk 22 sends it for AGI(agi://127.0.0.1:4573/route,a1) (res_agi.c setup_env)
HEADER = (
    b"agi_network: yes\n"
    b"agi_network_script: route\n"
    b"agi_request: agi://127.0.0.1:4573/route\n"
    b"agi_channel: PJSIP/trunk-00000001\n"
    b"agi_language: en\n"
    b"agi_type: PJSIP\n"
    b"agi_uniqueid: 1764770000.12\n"
    b"agi_version: 22.10.1\n"
    b"agi_callerid: +79161234567\n"
    b"agi_calleridname: unknown\n"
    b"agi_context: clinic-router-agi-entry\n"
    b"agi_extension: 74957770000\n"
    b"agi_priority: 6\n"
    b"agi_arg_1: a1\n"
    b"\n"
)


def test_header_block_gives_the_channel_and_caller() -> None:
    request = parse_request(HEADER)
    assert request.script == "route"
    assert request.channel == "PJSIP/trunk-00000001"
    assert request.uniqueid == "1764770000.12"
    assert request.callerid == "+79161234567"
    assert request.extension == "74957770000"
    assert request.args == ("a1",)


def test_script_comes_from_the_request_url_when_no_network_script() -> None:
    raw = HEADER.replace(b"agi_network_script: route\n", b"").replace(b"/route", b"/route?x=1")
    assert parse_request(raw).script == "route"


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # a health check speaking HTTP
        b"agi_channel: PJSIP/x\n\n",  # no unique id
        b"\x00\xff\xfe garbage\n\n",
        b"agi_uniqueid: 1\nagi_channel: x\n" + b"agi_x: " + b"a" * MAX_HEADER_BYTES + b"\n\n",
    ],
)
def test_what_is_not_an_agi_header_is_refused(raw: bytes) -> None:
    with pytest.raises(AgiProtocolError):
        parse_request(raw)


def test_replies() -> None:
    assert parse_reply("200 result=1 (+79161234567)\n").data == "+79161234567"
    reply = parse_reply("200 result=49 endpos=12345\n")
    assert (reply.code, reply.result, reply.rest) == (200, 49, "endpos=12345")
    assert parse_reply("200 result=0 (timeout)").data == "timeout"
    assert parse_reply("511 Command Not Permitted on a dead channel or intercepted").code == 511
    assert parse_reply("520-Invalid command syntax.  Proper usage follows:").code == 520
    with pytest.raises(AgiProtocolError):
        parse_reply("hello")


def test_keys_are_only_the_phone_keys() -> None:
    assert digit_of(ord("5")) == "5" and digit_of(ord("#")) == "#" and digit_of(ord("*")) == "*"
    assert digit_of(0) is None and digit_of(-1) is None and digit_of(None) is None
    assert digit_of(ord("A")) is None and digit_of(1000) is None


@given(st.text(max_size=200))
def test_no_argument_can_start_another_command(value: str) -> None:
    line = command_line("SET VARIABLE", "CR_PATIENT", value)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line
    body = line.decode()[len('SET VARIABLE "CR_PATIENT" ') :].rstrip("\n")
    # one quoted argument: it opens and closes with the only unescaped quotes
    assert body.startswith('"') and body.endswith('"')
    inner = body[1:-1].replace("\\\\", "").replace('\\"', "")
    assert '"' not in inner
