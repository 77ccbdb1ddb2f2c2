"""The dialplan fallback's AstDB records: parsing (never raising anything but BadRecord,
never echoing the caller's number) and the DB_KEYS() list they arrive in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.ari.astdb import split_keys
from router.engine.fallback_misses import BadRecord, parse_record


def test_a_record_as_the_dialplan_writes_it() -> None:
    record = parse_record("1795462576.3:1795462581:1795462577:74952232222:+79990004002")
    assert record.call_id == "1795462576.3"
    assert record.started_at == datetime.fromtimestamp(1795462577, UTC)
    assert record.ended_at == datetime.fromtimestamp(1795462581, UTC)
    assert (record.did, record.caller, record.waited_s) == ("74952232222", "+79990004002", 4.0)


def test_withheld_number_and_systemname_uniqueid() -> None:
    record = parse_record("pbx-a-1795462598.39:1795462602:1795462599:+74952232222:")
    assert (record.call_id, record.did, record.caller) == (
        "pbx-a-1795462598.39",
        "+74952232222",
        "",
    )
    assert parse_record("1.2:10:10:100:5").waited_s == 0.0


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "fields"),
        ("1795462576.3:1795462581:1795462577:74952232222", "fields"),
        ("1.2:3:4:74952232222:79990004002:extra", "fields"),
        (":1795462581:1795462577:74952232222:79990004002", "call id"),
        ("1.2 x:1795462581:1795462577:74952232222:79990004002", "call id"),
        ("1.2:17954625x1:1795462577:74952232222:79990004002", "epoch"),
        ("1.2::1795462577:74952232222:79990004002", "epoch"),
        ("1.2:999999999999:999999999990:74952232222:79990004002", "epoch"),
        ("1.2:1795462570:1795462577:74952232222:79990004002", "the start"),
        ("1.2:1795562577:1795462577:74952232222:79990004002", "the start"),
        ("1.2:1795462581:1795462577:74952232222:7999000400'2", "digits"),
        ("1.2:1795462581:1795462577:749+52232222:79990004002", "digits"),
    ],
)
def test_bad_records_say_why_without_the_number(key: str, why: str) -> None:
    with pytest.raises(BadRecord) as bad:
        parse_record(key)
    assert why in str(bad.value)
    assert "7999000400" not in str(bad.value)


@given(st.text(max_size=120))
def test_any_text_parses_or_is_a_bad_record(key: str) -> None:
    try:
        record = parse_record(key)
    except BadRecord:
        return
    assert record.waited_s >= 0
    assert set(record.caller) <= set("+0123456789")


@given(
    st.lists(st.text(max_size=12), min_size=1, max_size=6),
    st.from_regex(r"\+?[1-9][0-9]{9,11}", fullmatch=True),
    st.text(max_size=4),
)
def test_a_bad_record_never_shows_the_number(fields: list[str], number: str, junk: str) -> None:
    key = ":".join([*fields, number + junk])
    try:
        parse_record(key)
    except BadRecord as exc:
        assert number.lstrip("+") not in str(exc)


def test_db_keys_list_with_escapes() -> None:
    # Asterisk 22.10's DB_KEYS() for keys "a,b", "c\d" and "e/f" (the last shown as "e").
    assert split_keys("a\\,b,c\\\\d,e") == ["a,b", "c\\d", "e"]
    assert split_keys("") == []
    assert split_keys("1.2:3:4:5:6") == ["1.2:3:4:5:6"]
    assert split_keys("x,,y,") == ["x", "y"]
