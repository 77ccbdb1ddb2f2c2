"""The node walk behind `yamlsafe`: PyYAML's composed nodes -> plain data + positions.

PyYAML's own composer (`get_single_node`, libyaml's when available) builds the node
graph, whose nodes carry their marks. Two small hooks on the loader: plain scalars are
left unresolved (we resolve them the YAML 1.2 way, `resolve_plain`), and the pure-Python
composer, which recurses, stops at `MAX_DEPTH` (libyaml refuses 1,000 levels itself).
The walk then checks the graph (tags, keys, nesting, alias cycles and expansion) before
converting it, so a hostile file is refused before anything is expanded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from router.config.errors import ConfigIssue, KeyPath, format_path
from router.config.yamlmessages import composer_message, describe_yaml_error, yaml_error_mark

MAX_DEPTH = 64
MAX_VALUES = 500_000

# libyaml is ~20x faster and reports the same marks; the pure-Python parser is the fallback.
LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_PLAIN = "tag:clinic-router,2026:plain"  # an untagged plain scalar, resolved by us
_STR, _SEQ, _MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
_SCALAR_TAGS = frozenset({_PLAIN, *(_TAG + t for t in ("str", "int", "float", "bool", "null"))})
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
# Canonical numbers only, short enough never to hit int()'s digit limit.
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\.[0-9]{1,17}")


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column (columns count characters, not bytes)."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a value (and its key, for mapping entries) was written."""

    key: Mark | None
    value: Mark


def mark_of(m: Any) -> Mark:
    return Mark(int(m.line) + 1, int(m.column) + 1)


def _show_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def resolve_plain(text: str) -> Any:
    """What an unquoted scalar means here (YAML 1.2 core schema, canonical numbers only)."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and repr(float(text)) == text:
        return float(text)
    return text


class _TooDeep(yaml.MarkedYAMLError):
    pass


_LOADERS: dict[type[Any], type[Any]] = {}


def _loader(base: type[Any]) -> type[Any]:
    """`base` with our two hooks (a class per base: the tests swap libyaml for Python)."""
    if base in _LOADERS:
        return _LOADERS[base]

    class Loader(base):  # type: ignore[misc]
        _depth = 0

        def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
            if kind is ScalarNode:
                return _PLAIN if implicit[0] else _STR
            return _SEQ if kind is SequenceNode else _MAP

        def compose_node(self, parent: Node | None, index: Any) -> Node:
            # Only the pure-Python composer calls this (libyaml's is compiled).
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH + 1:
                    mark = self.peek_event().start_mark
                    raise _TooDeep(problem=_too_deep(), problem_mark=mark)
                node: Node = super().compose_node(parent, index)
                return node
            finally:
                self._depth -= 1

    _LOADERS[base] = Loader
    return Loader


def compose(text: str, source: str) -> tuple[Node | None, list[ConfigIssue]]:
    """PyYAML's node graph of the one document in `text`, or the issues that stop it."""
    loader = _loader(LOADER)(text)
    try:
        return loader.get_single_node(), []
    except yaml.MarkedYAMLError as e:
        mark = yaml_error_mark(e)
        at = mark_of(mark) if mark is not None else Mark(1, 1)
        message = composer_message(e, text, MAX_DEPTH) or describe_yaml_error(e, text)
        return None, [ConfigIssue(source, at.line, at.column, "", message)]
    except yaml.YAMLError as e:
        return None, [ConfigIssue(source, None, None, "", f"not readable as YAML: {e}")]
    finally:
        loader.dispose()


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


class Checker:
    """The graph's faults, before any expansion: tags, keys, depth, cycles, size."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[ConfigIssue] = []
        self._sizes: dict[int, int] = {}  # node id -> values it expands to
        self._open: set[int] = set()  # collections being walked (an alias back = a cycle)
        self._distinct = 0

    def _issue(self, node: Node, message: str, path: KeyPath = ()) -> None:
        at = mark_of(node.start_mark)
        self.issues.append(ConfigIssue(self.source, at.line, at.column, format_path(path), message))

    def check(self, root: Node) -> None:
        try:
            total = self._size(root, 0)
        except _Stop:
            return
        if total > MAX_VALUES:
            shared = total > self._distinct
            self._issue(
                self._blown(root),
                f"the file expands to more than {MAX_VALUES} values"
                + (" through aliases ('*name')" if shared else ""),
            )

    def _size(self, node: Node, depth: int) -> int:
        key = id(node)
        if key in self._sizes:
            return self._sizes[key]
        if key in self._open:
            self._issue(node, "an alias ('*name') refers to the collection that contains it")
            raise _Stop
        if depth > MAX_DEPTH:
            self._issue(node, _too_deep())
            raise _Stop
        self._distinct += 1
        self._open.add(key)
        size = 1 + sum(self._size(child, depth + 1) for child in self._children(node))
        self._open.discard(key)
        self._sizes[key] = size
        return size

    def _children(self, node: Node) -> list[Node]:
        if isinstance(node, ScalarNode):
            self._scalar_tag(node)
            return []
        if node.tag not in (_SEQ, _MAP):
            self._issue(node, _tag_message(node.tag))
        if isinstance(node, SequenceNode):
            return list(node.value)
        seen: dict[str, Mark] = {}
        children: list[Node] = []
        for key, value in node.value:
            self._key(key, seen)
            children.append(value)
        return children

    def _scalar_tag(self, node: ScalarNode) -> None:
        if node.tag not in _SCALAR_TAGS:
            self._issue(node, _tag_message(node.tag))
        elif node.tag not in (_PLAIN, _STR) and scalar_value(node) is _MISFIT:
            self._issue(node, f"'{node.value}' does not fit its tag {_show_tag(node.tag)}")

    def _key(self, key: Node, seen: dict[str, Mark]) -> None:
        if not isinstance(key, ScalarNode):
            self._issue(key, "a key must be plain text, not a list, mapping or alias")
            return
        self._scalar_tag(key)
        if key.value == "" and key.tag == _PLAIN:
            self._issue(key, "a key is missing before ':'")
            return
        first = seen.get(key.value)
        if first is not None:
            self._issue(key, f"duplicate key '{key.value}' (first defined at line {first.line})")
            return
        seen[key.value] = mark_of(key.start_mark)

    def _blown(self, node: Node) -> Node:
        """The innermost collection that alone expands past the limit: where to point."""
        while True:
            children = [c for c in _values(node) if self._sizes.get(id(c), 0) > MAX_VALUES]
            if not children:
                return node
            node = children[0]


class _Stop(Exception):
    pass


_MISFIT = object()


def scalar_value(node: ScalarNode) -> Any:
    """The scalar's value (checked tags only); `_MISFIT` when it does not fit its tag."""
    text: str = node.value
    if node.tag == _STR:
        return text
    value = resolve_plain(text)
    if node.tag == _PLAIN:
        return value
    fits = {
        "int": type(value) is int,
        "float": type(value) in (int, float),
        "bool": type(value) is bool,
        "null": value is None,
    }.get(node.tag.removeprefix(_TAG), False)  # any other tag: the checker refuses it
    if not fits:
        return _MISFIT
    return float(value) if node.tag == _TAG + "float" else value


def _values(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [v for _, v in node.value]
    return []


def _tag_message(tag: str) -> str:
    return (
        f"the YAML tag '{_show_tag(tag)}' is not allowed: config files hold plain data"
        " only (text, numbers, true/false, lists and mappings)"
    )


class Converter:
    """A checked node graph -> plain data and positions; expands aliases and `<<` merges."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[ConfigIssue] = []
        self.spots: dict[KeyPath, Spot] = {}

    def convert(self, root: Node) -> Any:
        return self._value(root, (), None)

    def _value(self, node: Node, path: KeyPath, key: Mark | None) -> Any:
        self.spots[path] = Spot(key, mark_of(node.start_mark))
        if isinstance(node, SequenceNode):
            return [self._value(n, (*path, i), None) for i, n in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return {
                k.value: self._value(n, (*path, k.value), mark_of(k.start_mark))
                for k, n in self._entries(node, path, 0)
            }
        assert isinstance(node, ScalarNode)
        return scalar_value(node)

    def _entries(self, node: MappingNode, path: KeyPath, depth: int) -> list[tuple[Node, Node]]:
        """Explicit entries first, then `<<` merges (earlier merges win, YAML 1.1 style)."""
        result = {k.value: (k, n) for k, n in node.value if k.value != "<<"}
        for key, merge in ((k, n) for k, n in node.value if k.value == "<<"):
            for source in self._merge_sources(merge, key, path):
                if depth > MAX_DEPTH:
                    self._issue(key, path, f"merges nest more than {MAX_DEPTH} levels deep")
                    return list(result.values())
                for k, n in self._entries(source, path, depth + 1):
                    result.setdefault(k.value, (k, n))
        return list(result.values())

    def _merge_sources(self, merge: Node, key: Node, path: KeyPath) -> list[MappingNode]:
        if isinstance(merge, MappingNode):
            return [merge]
        items = merge.value if isinstance(merge, SequenceNode) else []
        sources = [m for m in items if isinstance(m, MappingNode)]
        if not sources or len(sources) != len(items):
            msg = "'<<' (merge) needs a mapping or a list of mappings, like `<<: *defaults`"
            self._issue(key, path, msg)
            return []
        return sources

    def _issue(self, node: Node, path: KeyPath, message: str) -> None:
        at = mark_of(node.start_mark)
        self.issues.append(ConfigIssue(self.source, at.line, at.column, format_path(path), message))
