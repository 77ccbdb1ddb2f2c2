"""Field types shared by settings and rules."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from router.config.fields import ClockTime, parse_clock
from router.config.yamlsafe import parse_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [("9:00", time(9, 0)), ("09:05", time(9, 5)), ("23:59", time(23, 59)), ("0:00", time(0))],
)
def test_clock_times(text: str, value: time) -> None:
    assert parse_clock(text) == value


@pytest.mark.parametrize("bad", ["24:00", "9:60", "9", "9.30", "09:00:00", "", 540, 9.3, None])
def test_bad_clock_times(bad: Any) -> None:
    with pytest.raises(ValueError, match='expected a time of day as "HH:MM"'):
        parse_clock(bad)


class _Hours(BaseModel):
    opens: ClockTime
    closes: ClockTime


def test_unquoted_and_quoted_times_read_the_same() -> None:
    # YAML 1.1 reads unquoted 9:00 as 540; the safe reader keeps it as "9:00".
    data = parse_yaml(b"opens: 9:00\ncloses: '18:30'\n", "h.yaml").data
    assert _Hours.model_validate(data) == _Hours(opens=time(9), closes=time(18, 30))


def test_a_number_is_not_a_time() -> None:
    with pytest.raises(ValidationError, match="got 540"):
        _Hours.model_validate({"opens": 540, "closes": "18:00"})
