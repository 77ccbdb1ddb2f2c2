"""Where calls can go: loops, strandings and dead definitions in the routing sections.

It runs on the built `Rules`, once the schema and reference checks found nothing (a graph
with broken references says nothing useful), and points into the file through the
document's positions. Errors are what loops or strands every caller who gets there;
warnings are what a clinic could mean (a line that only plays a message) but must know.
The graph itself (nodes, edges, the last resort) is in `rules_graph.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from router.config.errors import ConfigIssue, KeyPath
from router.config.rules_graph import (
    LAST_RESORT,
    Edge,
    Node,
    RoutingGraph,
    build_graph,
    components,
)
from router.config.yamlsafe import YamlDocument
from router.domain.journey import MAX_HOPS
from router.domain.menus import Menu
from router.domain.operators import Operator
from router.domain.queue_steps import Queue, eligible_operators
from router.domain.routing import Route

CUT = f"the live router gives up after {MAX_HOPS} steps and rings any free operator without waiting"


_KINDS = {"routes": "route list", "menus": "menu", "queues": "queue"}


def _name(node: Node) -> str:
    return f"{_KINDS[node[0]]} '{node[1]}'"


def _loop(cycle: list[Node]) -> str:
    """ "menu 'a' forms a loop" / "menu 'a', route list 'b' form a loop"."""
    names = ", ".join(_name(n) for n in cycle)
    return f"{names} {'forms' if len(cycle) == 1 else 'form'} a loop"


class FlowCheck:
    """Runs every flow check on one rule set; `errors` refuse it, `warnings` do not."""

    def __init__(
        self,
        doc: YamlDocument,
        graph: RoutingGraph,
        queues: Mapping[str, Queue],
        operators: tuple[Operator, ...],
    ) -> None:
        self.doc, self.graph, self.queues, self.operators = doc, graph, queues, operators
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def run(self, has_lines: bool) -> FlowCheck:
        self.loops()
        good = self.graph.answering()
        self.strandings(good)
        self.fallbacks(good)
        self.fallthroughs(good & self.graph.reachable())  # unused ones are warned about
        self.unused(has_lines)
        for name, queue in self.queues.items():
            self.queue_steps(name, queue)
        return self

    def loops(self) -> None:
        edges = self.graph.edges
        # Route lists leading to route lists see the same caller facts every time round
        # (only a menu adds an answer), so a caller who enters such a cycle never leaves it.
        instant = {
            n: [e.to for e in out if e.to and e.to[0] == "routes"]
            for n, out in edges.items()
            if n[0] == "routes"
        }
        for cycle in self.cycles(instant):
            first = self.closing_edge(cycle, instant)
            ring = " -> ".join(n[1] for n in (*cycle, cycle[0]))
            self.errors.append(
                self.doc.issue(
                    first.path,
                    f"route lists {ring} form a loop: a call that gets here is checked"
                    " against the same lists with nothing new to decide on, again and again"
                    f" ({CUT}); end the loop with a queue, skills, operator, callback or"
                    " hang_up target",
                    at="value",
                )
            )
        reported = self.keyless_loops()
        every = {n: [e.to for e in out if e.to] for n, out in edges.items()}
        for cycle in self.cycles(every):
            if all(n[0] == "routes" for n in cycle) or set(cycle) <= reported:
                continue  # reported above
            if any(n[0] == "queues" for n in cycle):
                self.queue_loop(cycle, every)
                continue
            members = set(cycle)
            if any(e.to not in members and e.what != LAST_RESORT for n in cycle for e in edges[n]):
                continue  # a caller can leave it ("press 0 to hear the menu again" is fine)
            first = self.closing_edge(cycle, every)
            self.errors.append(
                self.doc.issue(
                    first.path,
                    f"{_loop(cycle)} with no way out: every option and route leads back"
                    f" into it, so callers go round until they hang up ({CUT}); give one"
                    " option a queue, skills, operator, callback or hang_up target",
                    at="value",
                )
            )

    def keyless_loops(self) -> set[Node]:
        """Loops through a menu that a caller who presses nothing goes round for ever (a
        `default`, a menu's only option, or an `auto_when` option leads back). Returns
        their nodes."""
        succ = {
            n: [e.to for e in out if e.to and e.keyless and e.to[0] != "queues"]
            for n, out in self.graph.edges.items()
            if n[0] != "queues"
        }
        reported: set[Node] = set()
        for cycle in self.cycles(succ):
            if all(n[0] == "routes" for n in cycle):
                continue  # a loop of route lists alone is reported as such
            reported |= set(cycle)
            first = self.closing_edge(cycle, succ)
            self.errors.append(
                self.doc.issue(
                    first.path,
                    f"{_loop(cycle)} that a caller who presses no key goes round for"
                    " ever: a menu's `default`, only option or `auto_when` option leads back into"
                    f" it ({CUT}); make the default lead out of the loop",
                    at="value",
                )
            )
        return reported

    def queue_loop(self, cycle: list[Node], succ: Mapping[Node, list[Node]]) -> None:
        """A queue whose `at_max_wait` leads back to it: callers wait again and again."""
        queue = next(n for n in cycle if n[0] == "queues")
        members = set(cycle)
        edge = next(e for e in self.graph.edges[queue] if e.to in members)
        self.warnings.append(
            self.doc.issue(
                edge.path,
                f"{_loop(cycle)}: callers whose wait in {_name(queue)} runs out come back"
                f" to it and wait again, until {CUT}",
                at="value",
            )
        )

    def cycles(self, succ: Mapping[Node, list[Node]]) -> list[list[Node]]:
        """The loops of `succ`, each in file order, the loops in file order too."""
        order = list(self.graph.edges)
        found = []
        for comp in components(order, succ):
            if len(comp) > 1 or comp[0] in succ.get(comp[0], []):
                found.append(sorted(comp, key=order.index))
        return sorted(found, key=lambda c: order.index(c[0]))

    def closing_edge(self, cycle: list[Node], succ: Mapping[Node, list[Node]]) -> Edge:
        """Where the loop is written: the first edge of its first node back into it."""
        members = set(cycle)
        return next(
            e for e in self.graph.edges[cycle[0]] if e.to in members and e.to in succ[cycle[0]]
        )

    def strandings(self, good: set[Node]) -> None:
        for node, out in self.graph.edges.items():
            if node in good:
                continue
            ends = sorted({e.what for e in out if e.to is None}) or ["the loop above"]
            self.warnings.append(
                self.doc.issue(
                    node,
                    f"no caller sent to this {_KINDS[node[0]]} can reach an operator"
                    f" or get a callback: every way out ends in {' or '.join(ends)}",
                    at="key",
                )
            )

    def fallbacks(self, good: set[Node]) -> None:
        """A manager or named operator whose `otherwise` strands the caller."""
        for out in self.graph.edges.values():
            for edge in out:
                if edge.to is not None or edge.path[-1] not in ("assigned_operator", "operator"):
                    continue
                after = [
                    e for e in out if e.path[: len(edge.path) + 1] == (*edge.path, "otherwise")
                ]
                if any(e.answered or e.to in good for e in after):
                    continue
                ends = " or ".join(sorted({e.what if e.to is None else _name(e.to) for e in after}))
                self.warnings.append(
                    self.doc.issue(
                        (*edge.path, "otherwise"),
                        f"when {edge.what} does not answer, the caller gets {ends} and no"
                        " operator: add a queue, skills or callback target here",
                        at="key",
                    )
                )

    def fallthroughs(self, nodes: set[Node]) -> None:
        """Some callers of a node that leads to operators still fall to the last resort."""
        for node, out in self.graph.edges.items():
            if node not in nodes or not any(e.what == LAST_RESORT for e in out):
                continue
            who, fix = (
                ("callers no route of this list matches", "end it with a route without `when`")
                if node[0] == "routes"
                else ("callers who press no valid key", "set its `default`")
            )
            self.warnings.append(
                self.doc.issue(
                    node,
                    f"{who} go to {LAST_RESORT}, then to the callback policy: {fix} to say"
                    " where they go",
                    at="key",
                )
            )

    def unused(self, has_lines: bool) -> None:
        if not has_lines:
            if self.graph.edges:
                self.warnings.append(
                    self.doc.issue(
                        ("lines",),
                        "no lines: every call is unrouted and goes to "
                        + LAST_RESORT
                        + "; the routes, menus and queues below are not used",
                        at="key",
                    )
                )
            return
        reached = self.graph.reachable()
        # A queue named by another's `overflow_to` lends its operators: it is in use.
        reached |= {
            ("queues", step.overflow_to)
            for name, queue in self.queues.items()
            if ("queues", name) in reached
            for step in queue.steps
            if step.overflow_to
        }
        for node in self.graph.edges:
            if node not in reached:
                self.warnings.append(
                    self.doc.issue(
                        node,
                        f"{_name(node)} is not used: no line, route or menu option leads to"
                        " it, so no caller ever gets here",
                        at="key",
                    )
                )

    def queue_steps(self, name: str, queue: Queue) -> None:
        for i, step in enumerate(queue.steps):
            here = ("queues", name, "steps", i)
            if step.after_s > queue.max_wait_s:
                self.warnings.append(
                    self.doc.issue(
                        (*here, "after_s"),
                        f"this step is never reached: callers wait at most max_wait_s"
                        f" {queue.max_wait_s} s in this queue",
                        at="value",
                    )
                )
        first = next(
            (
                s
                for s in queue.steps
                if eligible_operators(queue, s.after_s, self.operators, self.queues)
            ),
            None,
        )
        if first is not None and first.after_s > 0 and first.after_s <= queue.max_wait_s:
            self.warnings.append(
                self.doc.issue(
                    ("queues", name, "steps", 0),
                    f"no operator may take this queue's calls before they waited"
                    f" {first.after_s} s (the first step anyone passes): callers wait that"
                    " long with nobody to answer",
                    at="auto",
                )
            )


def flow_check(
    doc: YamlDocument,
    lines: Iterable[tuple[KeyPath, str]],
    routes: Mapping[str, tuple[Route, ...]],
    menus: Mapping[str, Menu],
    queues: Mapping[str, Queue],
    operators: tuple[Operator, ...],
) -> FlowCheck:
    """Loops (errors), strandings and unused definitions (warnings) of a built rule set."""
    starts = list(lines)
    graph = build_graph(starts, routes, menus, queues)
    return FlowCheck(doc, graph, queues, operators).run(has_lines=bool(starts))
