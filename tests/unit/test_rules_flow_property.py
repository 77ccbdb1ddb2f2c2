"""Property: rules that `check` accepts never make a caller walk into the 20-step cut.

Small random rule sets (three route lists, three menus, a queue; conditions on tags, menu
defaults, auto options, at most one key pressed) go through the real loader; for every
one it accepts, `plan_journey` (the walk `simulate` shows and the live router makes) must
reach an outcome for each kind of caller without the loop cut. Rules whose only loop runs
through a queue's `at_max_wait` are warned about, not refused, and are left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.config.errors import ConfigError
from router.config.rules import load_rules
from router.domain.journey import MAX_HOPS, plan_journey
from router.domain.operators import OperatorStatus, Presence
from router.domain.routing import CallerFacts, RoutesTarget

NODES = ("r0", "r1", "r2")
MENUS = ("m0", "m1", "m2")
TARGETS = st.sampled_from(
    [{"routes": r} for r in NODES]
    + [{"menu": m} for m in MENUS]
    + [{"queue": "q"}, {"skills": {"need": ["paid"]}}, {"hang_up": {}}, {"callback": {}}]
)
WHEN = st.sampled_from([None, {"tags_any": "dms"}, {"caller": "known"}])


@st.composite
def route_list(draw: Any) -> list[dict[str, Any]]:
    routes = []
    for i in range(draw(st.integers(1, 3))):
        route: dict[str, Any] = {"name": f"n{i}", "then": draw(TARGETS)}
        when = draw(WHEN)
        if when is not None:
            route["when"] = when
        routes.append(route)
    # A route after one without `when` is refused as shadowed: keep the catch-all last.
    firsts = [r for r in routes[:-1] if "when" in r]
    return [*firsts, routes[-1]]


@st.composite
def menu(draw: Any, name: str) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from("0123"), min_size=1, max_size=3, unique=True))
    options = []
    for key in keys:
        option: dict[str, Any] = {"key": key, "label": key, "then": draw(TARGETS)}
        if draw(st.booleans()) and draw(st.booleans()):
            option["auto_when"] = {"tags_any": "dms"}
        options.append(option)
    spec: dict[str, Any] = {"prompt": name, "options": options}
    if draw(st.booleans()):
        spec["default"] = draw(st.sampled_from(keys))
    return spec


@st.composite
def rule_sets(draw: Any) -> dict[str, Any]:
    queue: dict[str, Any] = {"steps": [{"after_s": 0, "skills": ["paid"]}]}
    if draw(st.booleans()):
        queue["at_max_wait"] = draw(TARGETS)
    return {
        "skills": {"paid": "Paid", "dms": "DMS"},
        "operators": [{"id": "op1", "name": "Ola", "endpoint": "PJSIP/op1", "skills": {"paid": 2}}],
        "lines": [{"id": "main", "numbers": "+74950000000", "routes": "r0"}],
        "routes": {r: draw(route_list()) for r in NODES},
        "menus": {m: draw(menu(m)) for m in MENUS},
        "queues": {"q": queue},
    }


CALLERS = [
    CallerFacts(datetime(2026, 12, 29, 9, tzinfo=UTC), line="main"),
    CallerFacts(datetime(2026, 12, 29, 9, tzinfo=UTC), line="main", known=True),
    CallerFacts(datetime(2026, 12, 29, 9, tzinfo=UTC), "main", known=True, tags=frozenset({"dms"})),
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=rule_sets(), press=st.sampled_from([None, "0", "1", "2", "3"]), busy=st.booleans())
def test_accepted_rules_never_reach_the_loop_cut(
    tmp_path: Path, data: dict[str, Any], press: str | None, busy: bool
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        rules = load_rules(path)
    except ConfigError:
        return  # refused: nothing to walk
    if any("come back to it and wait again" in w.message for w in rules.warnings):
        return  # a queue loop: warned about (callers wait again), not refused
    presence = Presence.OFFLINE if busy else Presence.AVAILABLE
    statuses = {op.id: OperatorStatus(op, presence) for op in rules.operators}
    for facts in CALLERS:
        journey = plan_journey(rules.world(), facts, RoutesTarget("r0"), statuses, [press])
        cut = [s.text for s in journey.steps if s.text.startswith(f"stopped after {MAX_HOPS}")]
        assert not cut, (yaml.safe_dump(data), facts, press, [s.text for s in journey.steps])
