"""The fallback's answered-call records: the dialplan writes them with only filtered
caller data, and parsing accepts exactly what it writes (BadRecord for anything else,
never quoting the number)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from router.asterisk_config.render import render_dialplan
from router.engine.fallback_misses import BadRecord
from router.engine.fallback_served import parse_served


def test_a_record_as_the_dialplan_writes_it() -> None:
    record = parse_served(
        "1764760000.42:1764760100:1764760010:1764760040:+74952232222:79161234567:op1001"
    )
    assert record.call_id == "1764760000.42"
    assert record.started_at == datetime.fromtimestamp(1764760010, UTC)
    assert record.answered_at == datetime.fromtimestamp(1764760040, UTC)
    assert record.ended_at == datetime.fromtimestamp(1764760100, UTC)
    assert (record.did, record.caller, record.endpoint) == ("+74952232222", "79161234567", "op1001")
    assert parse_served("x-1.2:20:10:10:100::").caller == ""  # withheld, no endpoint


@pytest.mark.parametrize(
    "key",
    [
        "1.2:20:10:15:100:7916",  # six fields
        "1.2:20:10:25:100:7916:op",  # answered after the end
        "1.2:20:10:5:100:7916:op",  # answered before the start
        "1.2:20:10:15:100:79 16:op",  # a space in the number
        "1.2:20:10:15:100:7916:op/1",  # a slash in the endpoint
        "1 2:20:10:15:100:7916:op",  # no uniqueid
    ],
)
def test_anything_else_is_refused_without_quoting_the_number(key: str) -> None:
    with pytest.raises(BadRecord) as refused:
        parse_served(key)
    assert "7916" not in str(refused.value)


def test_the_dialplan_records_answered_calls_with_filtered_data_only() -> None:
    text = render_dialplan(["PJSIP/101"])
    [served] = [line for line in text.splitlines() if "DB(clinic-router-served/" in line]
    # every ${...} is Asterisk's own value, a SHARED mark we set, or filtered
    assert re.findall(r"\$\{(\w+)", served) == [
        "UNIQUEID",
        "EPOCH",
        "CR_FALLBACK_START",
        "SHARED",
        "CR_FALLBACK_DID",
        "FILTER",
        "CALLERID",
        "SHARED",
    ]
    assert "Set(SHARED(CR_FALLBACK_OPERATOR,${ARG1})=${FILTER(0-9A-Za-z_.," in text
    assert 'GotoIf($["${SHARED(CR_FALLBACK_ANSWERED)}" = "1"]?served)' in text
