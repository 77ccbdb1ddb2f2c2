"""The routing sections as a graph: route lists, menus and queues are nodes; each route,
menu option, `otherwise` and `at_max_wait` is an edge to another node or an end (an
operator, the patient's manager, a callback task, a message and hang-up).

A route list with no route without conditions, and a menu with no `default`, also fall
through to the live router's last resort (any free operator, waiting
`routing.unrouted_max_wait_s`): a safety net, not a destination, so it does not count as
a way to an operator. `rules_flow.py` judges the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from router.config.errors import KeyPath
from router.domain.menus import Menu
from router.domain.queue_steps import Queue
from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    Route,
    RoutesTarget,
    SkillsTarget,
    Target,
)

Node = tuple[str, str]  # (section: routes | menus | queues, name)

LAST_RESORT = (
    "the last resort (any free operator, waiting routing.unrouted_max_wait_s, 0 s unless set)"
)


@dataclass(frozen=True, slots=True)
class Edge:
    """One way out of a node: to another node, or an end (`what` says which)."""

    path: KeyPath  # where it is written
    to: Node | None
    what: str = ""  # for an end: "hang_up", "the last resort", "a queue"…
    answered: bool = False  # an operator answers (now, or by calling back)
    keyless: bool = True  # taken without a key: a route, a menu's default or auto option


@dataclass(frozen=True, slots=True)
class RoutingGraph:
    """The routing sections as nodes and edges (`edges` in file order)."""

    edges: Mapping[Node, tuple[Edge, ...]]
    starts: Mapping[Node, KeyPath]  # route lists named by lines -> the first such line

    def reachable(self) -> set[Node]:
        seen: set[Node] = set()
        todo = list(self.starts)
        while todo:
            node = todo.pop()
            if node in seen or node not in self.edges:
                continue
            seen.add(node)
            todo.extend(e.to for e in self.edges[node] if e.to is not None)
        return seen

    def answering(self) -> set[Node]:
        """Nodes from which some path reaches an operator (now or by calling back)."""
        good = {n for n, out in self.edges.items() if any(e.answered for e in out)}
        changed = True
        while changed:
            changed = False
            for node, out in self.edges.items():
                if node not in good and any(e.to in good for e in out):
                    good.add(node)
                    changed = True
        return good


def target_edges(path: KeyPath, target: Target) -> list[Edge]:
    """The ways out a target written at `path` gives (an `otherwise` adds its own)."""
    if isinstance(target, RoutesTarget):
        return [Edge((*path, "routes"), ("routes", target.routes))]
    if isinstance(target, MenuTarget):
        return [Edge((*path, "menu"), ("menus", target.menu))]
    if isinstance(target, QueueTarget):
        return [Edge((*path, "queue"), ("queues", target.queue))]
    if isinstance(target, SkillsTarget):
        return [Edge((*path, "skills"), None, "operators with these skills", True)]
    if isinstance(target, AssignedTarget):
        here = (*path, "assigned_operator")
        first = Edge(here, None, "the patient's manager", True)
        return [first, *target_edges((*here, "otherwise"), target.otherwise)]
    if isinstance(target, OperatorTarget):
        here = (*path, "operator")
        first = Edge(here, None, f"operator {target.operator}", True)
        return [first, *target_edges((*here, "otherwise"), target.otherwise)]
    if isinstance(target, CallbackTarget):
        key = "voicemail" if target.voicemail else "callback"
        return [Edge((*path, key), None, f"a {key}", True)]
    assert isinstance(target, HangUpTarget)
    return [Edge((*path, "hang_up"), None, "a message and hang-up")]


def build_graph(
    lines: Iterable[tuple[KeyPath, str]],
    routes: Mapping[str, tuple[Route, ...]],
    menus: Mapping[str, Menu],
    queues: Mapping[str, Queue],
) -> RoutingGraph:
    """`lines` are (path of the line's `routes`, route list name) pairs."""
    edges: dict[Node, tuple[Edge, ...]] = {}
    for name, lst in routes.items():
        out = [
            e for i, r in enumerate(lst) for e in target_edges(("routes", name, i, "then"), r.then)
        ]
        if not any(r.when.always for r in lst):
            out.append(Edge(("routes", name), None, LAST_RESORT))
        edges[("routes", name)] = tuple(out)
    for name, menu in menus.items():
        here: KeyPath = ("menus", name, "options")
        out = []
        for i, option in enumerate(menu.options):
            # Taken with no key: the default, an auto option, or the only option (one
            # choice is not a question: the menu is skipped).
            only = len(menu.options) == 1
            keyless = only or option.key == menu.default or option.auto_when is not None
            for edge in target_edges((*here, i, "then"), option.then):
                out.append(replace(edge, keyless=keyless))
        if menu.default is None:
            out.append(Edge(("menus", name), None, LAST_RESORT))
        edges[("menus", name)] = tuple(out)
    for name, queue in queues.items():
        out = [Edge(("queues", name), None, "a queue", True)]
        if queue.at_max_wait is not None:
            out += target_edges(("queues", name, "at_max_wait"), queue.at_max_wait)
        edges[("queues", name)] = tuple(out)
    starts: dict[Node, KeyPath] = {}
    for path, name in lines:
        starts.setdefault(("routes", name), path)
    return RoutingGraph(edges, starts)


def components(nodes: Iterable[Node], succ: Mapping[Node, list[Node]]) -> list[list[Node]]:
    """Strongly connected components (Tarjan, iterative: a long chain must not recurse)."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    on_stack: set[Node] = set()
    found: list[list[Node]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            nexts = succ.get(node, [])
            if i < len(nexts):
                work.append((node, i + 1))
                child = nexts[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                member: list[Node] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    member.append(top)
                    if top == node:
                        break
                found.append(member)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
