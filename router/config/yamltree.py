"""The YAML event walk behind `yamlsafe`: events -> node tree -> plain data + positions.

Kept apart from `yamlsafe` (the public entry points) to keep both modules short.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from router.config.errors import ConfigIssue, KeyPath, file_issue, format_path
from router.config.yamlmessages import describe_yaml_error, yaml_error_mark

MAX_DEPTH = 64
MAX_VALUES = 500_000

# libyaml is ~20x faster and reports the same marks; the pure-Python parser is the fallback.
LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset({"!", *(_TAG + t for t in ("str", "int", "float", "bool", "null"))})
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


def _mark(m: Any) -> Mark:
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


@dataclass(slots=True, eq=False)
class _Node:
    kind: Literal["scalar", "seq", "map", "alias"]
    mark: Mark
    value: Any = None  # scalars: the resolved value
    text: str = ""  # scalars: the source text (used for mapping keys)
    items: list[_Node] = field(default_factory=list)
    entries: list[tuple[str, Mark, _Node]] = field(default_factory=list)
    target: _Node | None = None  # aliases
    complete: bool = False


@dataclass(slots=True, eq=False)
class _Frame:
    node: _Node
    key: tuple[str | None, Mark] | None = None  # a mapping's key awaiting its value
    seen: dict[str, Mark] = field(default_factory=dict)


class Builder:
    """Events -> a node tree; collects duplicate keys, bad tags and bad aliases."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[ConfigIssue] = []
        self._stack: list[_Frame] = []
        self._anchors: dict[str, _Node] = {}
        self._root: _Node | None = None
        self._documents = 0

    def _issue(self, mark: Mark, message: str) -> None:
        self.issues.append(ConfigIssue(self.source, mark.line, mark.column, "", message))

    def build(self, text: str) -> _Node | None:
        try:
            for event in _events(text):
                if not self._on_event(event):
                    break
        except yaml.MarkedYAMLError as e:
            mark = yaml_error_mark(e)
            at = _mark(mark) if mark is not None else Mark(1, 1)
            self._issue(at, _nesting_message(e) or describe_yaml_error(e, text))
        except yaml.YAMLError as e:
            self.issues.append(file_issue(self.source, f"not readable as YAML: {e}"))
        return self._root

    def _on_event(self, event: Any) -> bool:
        mark = _mark(event.start_mark)
        if isinstance(event, yaml.DocumentStartEvent):
            self._documents += 1
            if self._documents > 1:
                self._issue(mark, "a second YAML document ('---'): keep one document per file")
                return False
        elif isinstance(event, yaml.AliasEvent):
            self._attach(self._alias(event.anchor or "", mark))
        elif isinstance(event, yaml.ScalarEvent):
            node = self._scalar(event, mark)
            self._remember(event.anchor, node)
            self._attach(node)
        elif isinstance(event, yaml.CollectionStartEvent):
            return self._start(event, mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = self._stack.pop()
            frame.node.complete = True
            self._attach(frame.node)
        return True

    def _start(self, event: Any, mark: Mark) -> bool:
        kind: Literal["seq", "map"] = "seq" if isinstance(event, yaml.SequenceStartEvent) else "map"
        allowed = {None, "!", _TAG + kind}
        if event.tag not in allowed:
            self._issue(mark, _tag_message(event.tag))
        if len(self._stack) >= MAX_DEPTH:
            self._issue(mark, f"nested more than {MAX_DEPTH} levels deep")
            return False
        node = _Node(kind, mark)
        self._remember(event.anchor, node)
        self._stack.append(_Frame(node))
        return True

    def _scalar(self, event: Any, mark: Mark) -> _Node:
        text: str = event.value
        tag: str | None = event.tag
        if tag is None:
            value = resolve_plain(text) if event.implicit[0] else text
        elif tag in _SCALAR_TAGS:
            value = self._tagged(tag, text, mark)
        else:
            self._issue(mark, _tag_message(tag))
            value = None
        return _Node("scalar", mark, value=value, text=text, complete=True)

    def _tagged(self, tag: str, text: str, mark: Mark) -> Any:
        name = tag.removeprefix(_TAG)
        if name in ("!", "str"):
            return text
        value = resolve_plain(text)
        fits = {
            "int": type(value) is int,
            "float": type(value) in (int, float),
            "bool": type(value) is bool,
            "null": value is None,
        }
        if fits[name]:
            return float(value) if name == "float" else value
        self._issue(mark, f"'{text}' does not fit its tag {_show_tag(tag)}")
        return None

    def _alias(self, name: str, mark: Mark) -> _Node:
        target = self._anchors.get(name)
        if target is None:
            self._issue(mark, f"unknown alias '*{name}': no anchor '&{name}' above it")
        elif not target.complete:
            self._issue(mark, f"alias '*{name}' refers to the collection that contains it")
            target = None
        return _Node("alias", mark, target=target, complete=True)

    def _remember(self, anchor: str | None, node: _Node) -> None:
        if anchor is not None:
            self._anchors[anchor] = node

    def _attach(self, node: _Node) -> None:
        if not self._stack:
            self._root = node
            return
        frame = self._stack[-1]
        if frame.node.kind == "seq":
            frame.node.items.append(node)
        elif frame.key is None:
            frame.key = (self._key_text(frame, node), node.mark)
        else:
            key, key_mark = frame.key
            frame.key = None
            if key is not None:
                frame.node.entries.append((key, key_mark, node))

    def _key_text(self, frame: _Frame, node: _Node) -> str | None:
        if node.kind != "scalar":
            self._issue(node.mark, "a key must be plain text, not a list, mapping or alias")
            return None
        if node.text == "" and node.value is None:
            self._issue(node.mark, "a key is missing before ':'")
            return None
        first = frame.seen.get(node.text)
        if first is not None:
            self._issue(
                node.mark, f"duplicate key '{node.text}' (first defined at line {first.line})"
            )
            return None
        frame.seen[node.text] = node.mark
        return node.text


def _nesting_message(e: yaml.MarkedYAMLError) -> str | None:
    # libyaml 0.2.6+ (PyYAML 6.0.4 wheels) scans ahead and refuses 1,000 open levels
    # before its events reach our own limit: the same fault, told the same way.
    if e.problem == "exceeded maximum nesting depth":
        return f"nested more than {MAX_DEPTH} levels deep"
    return None


def _events(text: str) -> Iterator[Any]:
    loader = LOADER(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    finally:
        loader.dispose()


def _tag_message(tag: str) -> str:
    return (
        f"the YAML tag '{_show_tag(tag)}' is not allowed: config files hold plain data"
        " only (text, numbers, true/false, lists and mappings)"
    )


class Converter:
    """Node tree -> plain data and positions; expands aliases and `<<` merges, capped."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[ConfigIssue] = []
        self.spots: dict[KeyPath, Spot] = {}
        self._count = 0
        self._outer_alias: Mark | None = None

    def convert(self, root: _Node) -> Any:
        try:
            return self._value(root, (), None, 0)
        except _TooBig as e:
            self.issues.append(ConfigIssue(self.source, e.mark.line, e.mark.column, "", e.msg))
            return None

    def _value(self, node: _Node, path: KeyPath, key: Mark | None, depth: int) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            # Point at the alias whose expansion blew the budget, not deep inside it.
            raise _TooBig(
                self._outer_alias or node.mark,
                f"the file expands to more than {MAX_VALUES} values"
                + (" through aliases ('*name')" if self._outer_alias else ""),
            )
        if depth > MAX_DEPTH:
            raise _TooBig(node.mark, f"aliases nest more than {MAX_DEPTH} levels deep")
        self.spots[path] = Spot(key, node.mark)
        target = _deref(node)
        if target is None:
            return None
        if node.kind != "alias" or self._outer_alias is not None:
            return self._content(target, path, depth)
        self._outer_alias = node.mark
        try:
            return self._content(target, path, depth)
        finally:
            self._outer_alias = None

    def _content(self, node: _Node, path: KeyPath, depth: int) -> Any:
        if node.kind == "seq":
            return [self._value(n, (*path, i), None, depth + 1) for i, n in enumerate(node.items)]
        if node.kind == "map":
            return {
                k: self._value(n, (*path, k), km, depth + 1)
                for k, km, n in self._entries(node, path, depth)
            }
        return node.value

    def _entries(self, node: _Node, path: KeyPath, depth: int) -> list[tuple[str, Mark, _Node]]:
        """Explicit entries first, then `<<` merges (earlier merges win, YAML 1.1 style)."""
        own = [e for e in node.entries if e[0] != "<<"]
        result = {k: (k, km, n) for k, km, n in own}
        for _, key_mark, merge in (e for e in node.entries if e[0] == "<<"):
            for source in self._merge_sources(merge, key_mark, path):
                if depth > MAX_DEPTH:
                    raise _TooBig(key_mark, f"merges nest more than {MAX_DEPTH} levels deep")
                for k, km, n in self._entries(source, path, depth + 1):
                    result.setdefault(k, (k, km, n))
        return list(result.values())

    def _merge_sources(self, merge: _Node, key_mark: Mark, path: KeyPath) -> list[_Node]:
        target = _deref(merge)
        sources = [target] if target and target.kind == "map" else []
        if target and target.kind == "seq":
            sources = [m for m in (_deref(i) for i in target.items) if m and m.kind == "map"]
            if len(sources) != len(target.items):
                sources = []
        if not sources and target is not None:
            msg = "'<<' (merge) needs a mapping or a list of mappings, like `<<: *defaults`"
            self.issues.append(
                ConfigIssue(self.source, key_mark.line, key_mark.column, format_path(path), msg)
            )
        return sources


def _deref(node: _Node) -> _Node | None:
    while node.kind == "alias":
        if node.target is None:
            return None
        node = node.target
    return node


class _TooBig(Exception):
    def __init__(self, mark: Mark, msg: str) -> None:
        super().__init__(msg)
        self.mark = mark
        self.msg = msg
