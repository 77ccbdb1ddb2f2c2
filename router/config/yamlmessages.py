"""PyYAML's and libyaml's syntax errors, reworded for the admin who has to fix the line.

Both parsers describe the same mistakes in different words ("expected <block end>" vs
"did not find expected key"); we recognise the common ones and say what to check.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


def yaml_error_mark(error: yaml.MarkedYAMLError) -> Any:
    """Where to point: an unclosed quote or bracket is reported at the end of the file by
    the parser, but the admin needs to see where it was opened."""
    problem = error.problem or ""
    context = error.context or ""
    unclosed = ("end of stream" in problem and "quoted" in context) or (
        "flow" in context and ("',' or ']'" in problem or "',' or '}'" in problem)
    )
    if unclosed and error.context_mark is not None:
        return error.context_mark
    return error.problem_mark or error.context_mark


def composer_message(error: yaml.MarkedYAMLError, text: str, max_depth: int) -> str | None:
    """The composer's faults (one document, anchors, aliases, nesting) in the admin's words."""
    problem = error.problem or ""
    context = error.context or ""
    if problem.startswith("nested more than"):  # our own limit on the pure-Python composer
        return problem
    # libyaml 0.2.6+ (PyYAML 6.0.4 wheels) scans ahead and refuses 1,000 open levels
    # before the composer reaches our own limit: the same fault, told the same way.
    if problem == "exceeded maximum nesting depth":
        return f"nested more than {max_depth} levels deep"
    if "expected a single document" in context:
        return "a second YAML document ('---'): keep one document per file"
    name = _name_at(text, error.problem_mark)
    if "found undefined alias" in problem:
        return f"unknown alias '*{name}': no anchor '&{name}' above it"
    if "found duplicate anchor" in context:
        first = _line_of(error.context_mark)
        return f"the anchor '&{name}' is defined twice (first at line {first}): rename one"
    return None


def _name_at(text: str, mark: Any) -> str:
    """The anchor or alias name written at `mark` (libyaml's messages leave it out)."""
    if mark is None:
        return ""
    lines = text.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    found = re.match(r"[&*]([^\s,\[\]{}]+)", line[mark.column :])
    return found.group(1) if found else ""


def describe_yaml_error(error: yaml.MarkedYAMLError, text: str) -> str:
    problem = (error.problem or "").strip()
    context = (error.context or "").strip()
    found = _char_at(text, error.problem_mark)
    started = _line_of(error.context_mark)
    if "cannot start any token" in problem:
        if found == "\t":
            return "a tab character: indent YAML with spaces, never tabs"
        if found in ("@", "`", "%"):
            return f"a value cannot start with '{found}': put the value in quotes"
        return "unexpected character here: put the value in quotes"
    if "tab character" in problem:
        return "a tab character: indent YAML with spaces, never tabs"
    if "mapping values are not allowed" in problem:
        return (
            "unexpected ':' here: put the value in quotes if it contains ': ',"
            " or check the indentation of this line"
        )
    if "could not find expected ':'" in problem:
        return "expected 'key: value' on this line or the one above: is a ':' missing?"
    if "unexpected end of stream" in problem and "quoted" in context:
        return "this quoted value is never closed: the closing quote is missing"
    if ("',' or ']'" in problem) or ("',' or '}'" in problem):
        closing = "]" if "]" in problem else "}"
        return f"this bracket is never closed: a '{closing}' or a ',' is missing"
    if ("block end" in problem or "expected key" in problem or "'-' indicator" in problem) and (
        "block" in context
    ):
        return (
            f"this line is indented differently from the block{_since(started)}:"
            " keys of one mapping (and items of one list) must line up exactly"
        )
    if "unknown escape character" in problem:
        return (
            "unknown escape sequence in a double-quoted value: use single quotes,"
            " or write a backslash as \\\\"
        )
    if "document start" in problem:
        return "content after the end of the document ('...'): remove the '...' line"
    if "undefined tag handle" in problem:
        return "unknown YAML tag: config files hold plain data only"
    return f"not valid YAML: {problem or 'syntax error'}" + (f" ({context})" if context else "")


def _char_at(text: str, mark: Any) -> str:
    if mark is None:
        return ""
    lines = text.split("\n")
    if mark.line >= len(lines):
        return ""
    line: str = lines[mark.line]
    return line[mark.column] if mark.column < len(line) else ""


def _line_of(mark: Any) -> int | None:
    return int(mark.line) + 1 if mark is not None else None


def _since(line: int | None) -> str:
    return f" started at line {line}" if line is not None else ""
