import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.phone import CallerStatus, normalise_caller, normalise_did


@pytest.mark.parametrize(
    "raw",
    [
        "8 916 123-45-67",
        "+7 (916) 123-45-67",
        "79161234567",
        "89161234567",
        "+79161234567",
        "9161234567",
        "+7-916-123-45-67",
        "+7(916)123-45-67",
        "+79161234567;ext=12",
    ],
)
def test_russian_forms_normalise_to_e164(raw: str) -> None:
    assert normalise_caller(raw).e164 == "+79161234567"


def test_local_number_uses_the_line_area_code() -> None:
    assert normalise_caller("2232222", area_code="495").e164 == "+74952232222"
    assert normalise_caller("2232222").status is CallerStatus.INVALID


def test_trunk_prefix_is_stripped() -> None:
    assert normalise_caller("989161234567", strip_prefix="9").e164 == "+79161234567"


@pytest.mark.parametrize("raw", ["", "anonymous", "Anonymous", "  ", None, "unknown"])
def test_withheld_callers_are_unknown_not_errors(raw: str | None) -> None:
    result = normalise_caller(raw)
    assert result.status is CallerStatus.WITHHELD
    assert result.e164 is None and not result.known


@pytest.mark.parametrize(
    "raw",
    [
        "1'OR'1'='1",
        "';DROP TABLE calls;--",
        "*123#",
        "Иван",
        "<script>",
        "12\ufffd34",
        "1" * 79,
        "+",
        "123,456",
    ],
)
def test_garbage_is_invalid(raw: str) -> None:
    assert normalise_caller(raw).e164 is None


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=120))
def test_hostile_caller_ids_never_raise(raw: str) -> None:
    result = normalise_caller(raw)
    assert len(result.raw) <= 80
    if result.e164 is not None:
        assert result.e164.startswith("+") and result.e164[1:].isdigit()


def test_did_keeps_plus_and_digits_only() -> None:
    assert normalise_did("+7 (495) 223-22-22") == "+74952232222"
    assert normalise_did("100") == "100"
