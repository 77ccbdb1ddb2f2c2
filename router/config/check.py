"""`clinic-router check [PATH]`: validate settings and rules before they go live.

PATH may be the settings file (`router.yaml`, which names its rules file), a rules file
alone, or a folder holding `router.yaml`. Prints every problem as
`file:line:column: key.path: message` and returns 1, or prints a one-line summary and
returns 0. Bad input never produces a traceback: every problem is a `ConfigIssue`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from router.config.errors import ConfigError, ConfigIssue
from router.config.rules import Rules, load_rules
from router.config.settings import settings_from_document
from router.config.yamlsafe import YamlDocument, load_yaml

DEFAULT_SETTINGS_PATH = Path("config/router.yaml")
SETTINGS_FILE_NAME = "router.yaml"
_SETTINGS_KEYS = frozenset({"ari", "database", "http", "logging", "routing"})

OutputFormat = Literal["text", "json"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a successful check validated."""

    settings_file: str | None  # None when PATH was a rules file
    rules_file: str
    rules: Rules

    def to_text(self) -> str:
        counts = f"{len(self.rules.operators)} operators, {len(self.rules.skills)} skills"
        warned = len(self.rules.warnings)
        if warned:
            counts += f", {warned} warning{'s' if warned != 1 else ''}"
        lines = [w.format_warning() for w in self.rules.warnings]
        if self.settings_file is None:
            lines.append(f"{self.rules_file}: OK (version {self.rules.version}, {counts})")
        else:
            lines.append(
                f"{self.settings_file}: OK (rules {self.rules_file} version"
                f" {self.rules.version}, {counts})"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "settings": self.settings_file,
            "rules": {
                "file": self.rules_file,
                "version": self.rules.version,
                "operators": len(self.rules.operators),
                "skills": len(self.rules.skills),
            },
            "warnings": [w.to_dict() for w in self.rules.warnings],
        }


def run_check(
    path: str | None,
    fmt: OutputFormat = "text",
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Check PATH (default config/router.yaml), print the outcome, return the exit code."""
    stream = out if out is not None else sys.stdout
    try:
        result = check_path(Path(path) if path else DEFAULT_SETTINGS_PATH, env=env)
    except ConfigError as e:
        if fmt == "json":
            print(e.render_json(), file=stream)
        else:
            print(e.render_text(), file=stream)
            count = len(e.issues)
            print(f"{count} problem{'s' if count != 1 else ''} found", file=stream)
        return 1
    if fmt == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), file=stream)
    else:
        print(result.to_text(), file=stream)
    return 0


def check_path(path: Path, *, env: Mapping[str, str] | None = None) -> CheckResult:
    """Validate settings and/or rules at `path`. Raises ConfigError with every problem."""
    if path.is_dir():
        path = path / SETTINGS_FILE_NAME
    doc = load_yaml(path, source=display_path(path))
    if not _looks_like_settings(path, doc):
        return CheckResult(None, doc.source, load_rules(path, source=doc.source))
    issues: list[ConfigIssue] = []
    rules_path = _rules_path_of(path, doc)
    try:
        settings = settings_from_document(doc, base_dir=path.resolve().parent, env=env)
        rules_path = settings.routing.rules
    except ConfigError as e:
        issues.extend(e.issues)
    rules: Rules | None = None
    if rules_path is not None and rules_path.is_file():
        try:
            rules = load_rules(rules_path, source=display_path(rules_path))
        except ConfigError as e:
            issues.extend(e.issues)
    if rules is not None and not issues:
        issues.extend(_mode_issues(doc, settings.agi.enabled, rules))
    if issues or rules is None:
        raise ConfigError(issues)
    return CheckResult(doc.source, display_path(rules.loaded_from), rules)


def _mode_issues(doc: YamlDocument, agi_enabled: bool, rules: Rules) -> list[ConfigIssue]:
    """A line in `mode: agi` needs the FastAGI server (docs/agi-mode.md): without it every
    call of that line would go to the dialplan's plain queue."""
    agi_lines = [line.id for line in rules.lines if line.mode == "agi"]
    if not agi_lines or agi_enabled:
        return []
    return [
        doc.issue(
            ("agi", "enabled"),
            f"lines in mode: agi ({', '.join(agi_lines)}) need agi.enabled: true; without the"
            " FastAGI server every call of theirs goes to the plain queue (docs/agi-mode.md)",
        )
    ]


def _looks_like_settings(path: Path, doc: YamlDocument) -> bool:
    if path.name == SETTINGS_FILE_NAME:
        return True
    return isinstance(doc.data, Mapping) and bool(_SETTINGS_KEYS & set(doc.data))


def _rules_path_of(path: Path, doc: YamlDocument) -> Path | None:
    """The rules file named by a settings file, read leniently (the settings may be broken)."""
    routing = doc.data.get("routing") if isinstance(doc.data, Mapping) else None
    name = routing.get("rules") if isinstance(routing, Mapping) else None
    if name is None:
        name = "rules.yaml"
    return (path.resolve().parent / name).resolve() if isinstance(name, str) and name else None


def display_path(path: Path) -> str:
    """A path as the admin would type it: relative to the current folder when inside it."""
    try:
        absolute = path.resolve()
        relative = absolute.relative_to(Path.cwd().resolve())
    except (OSError, ValueError):
        return str(path)
    return str(relative) if relative.parts else str(path)


__all__ = ["DEFAULT_SETTINGS_PATH", "CheckResult", "check_path", "display_path", "run_check"]
