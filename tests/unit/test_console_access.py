"""Console roles, masking of numbers and the sign-in throttle (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.domain.console_access import (
    Permission,
    Role,
    home_path,
    may,
    may_open_operator_page,
)
from router.domain.masking import mask_number, show_number
from router.domain.signin_throttle import SigninThrottle, ThrottleLimits


def test_operators_see_only_their_own_page() -> None:
    assert not may(Role.OPERATOR, Permission.WALLBOARD)
    assert not may(Role.OPERATOR, Permission.AUDIT)
    assert may_open_operator_page(Role.OPERATOR, "op1001", "op1001")
    assert not may_open_operator_page(Role.OPERATOR, "op1001", "op1002")
    assert not may_open_operator_page(Role.OPERATOR, None, "op1002")


def test_supervisors_watch_and_act_but_only_admins_read_rules_and_audit() -> None:
    assert may(Role.SUPERVISOR, Permission.WALLBOARD)
    assert may(Role.SUPERVISOR, Permission.SUPERVISE)
    assert may_open_operator_page(Role.SUPERVISOR, None, "op1002")
    assert not may(Role.SUPERVISOR, Permission.AUDIT)
    assert not may(Role.SUPERVISOR, Permission.RULES)
    assert may(Role.ADMIN, Permission.AUDIT) and may(Role.ADMIN, Permission.RULES)


def test_whole_numbers_only_for_the_roles_the_settings_name() -> None:
    assert not may(Role.ADMIN, Permission.FULL_NUMBERS)
    assert may(Role.SUPERVISOR, Permission.FULL_NUMBERS, full_numbers=frozenset({Role.SUPERVISOR}))


def test_home_of_each_role() -> None:
    assert home_path(Role.OPERATOR, "op1001") == "operator/op1001"
    assert home_path(Role.SUPERVISOR, None) == "wallboard"


def test_a_russian_mobile_is_masked_as_clinics_write_it() -> None:
    assert mask_number("+79161234567") == "+7 916 ***-**-67"


def test_withheld_and_garbage_are_never_shown() -> None:
    assert mask_number(None) == "withheld"
    assert mask_number("") == "withheld"
    assert mask_number("79161234567") == "***"
    assert mask_number("+7abc") == "***"


def test_whole_number_only_when_allowed() -> None:
    assert show_number("+79161234567", whole=True) == "+79161234567"
    assert show_number("+79161234567", whole=False) == "+7 916 ***-**-67"


@given(st.from_regex(r"\+79[0-9]{9}", fullmatch=True))
def test_a_masked_number_keeps_at_most_five_digits_of_the_subscriber(number: str) -> None:
    masked = mask_number(number)
    assert number not in masked
    digits = [c for c in masked.removeprefix("+7") if c.isdigit()]
    assert len(digits) == 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_failure_in_a_minute_is_slowed() -> None:
    clock = Clock()
    throttle = SigninThrottle(clock, ThrottleLimits(per_user=5))
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1", "anna") == 0
        throttle.failed("10.0.0.1", "anna")
        clock.now += 1
    assert throttle.retry_after("10.0.0.1", "anna") > 0
    assert throttle.retry_after("10.0.0.2", "anna") == 0  # another desk is not locked out
    clock.now += 61
    assert throttle.retry_after("10.0.0.1", "anna") == 0  # the minute has passed


def test_the_delay_doubles_with_each_further_failure_up_to_the_cap() -> None:
    clock = Clock()
    limits = ThrottleLimits(per_user=2, base_delay_s=2, max_delay_s=10, window_s=3600)
    throttle = SigninThrottle(clock, limits)
    waits = []
    for _ in range(6):
        throttle.failed("a", "u")
        waits.append(throttle.retry_after("a", "u"))
    assert waits == [0, 2, 4, 8, 10, 10]


def test_spraying_names_from_one_address_is_limited_too() -> None:
    clock = Clock()
    throttle = SigninThrottle(clock, ThrottleLimits(per_user=5, per_address=3))
    for name in ("a", "b", "c"):
        throttle.failed("10.0.0.9", name)
    assert throttle.retry_after("10.0.0.9", "d") > 0


def test_a_success_clears_the_users_count_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = SigninThrottle(clock, ThrottleLimits(per_user=1, per_address=100, max_keys=10))
    throttle.failed("x", "anna")
    throttle.succeeded("x", "anna")
    assert throttle.retry_after("x", "anna") == 0
    for i in range(100):
        throttle.failed(f"10.0.0.{i}", "n")
    assert len(throttle._failures) <= 10


def test_begin_counts_the_attempt_before_its_check_ends() -> None:
    clock = Clock()
    throttle = SigninThrottle(clock, ThrottleLimits(per_user=5))
    # Five checks begun at once (none finished yet): the sixth is refused unchecked.
    assert [throttle.begin("10.0.0.1", "anna") for _ in range(5)] == [0.0] * 5
    assert throttle.begin("10.0.0.1", "anna") > 0
    clock.now += 1.5
    throttle.begun_failed("10.0.0.1", "anna")  # the delay runs from the known failure
    assert throttle.retry_after("10.0.0.1", "anna") == 2.0
    throttle.succeeded("10.0.0.1", "anna")
    assert throttle.retry_after("10.0.0.1", "anna") == 0.0
