"""Rules files for real-Asterisk tests: only the operators a test has phones for."""

from __future__ import annotations

from pathlib import Path


def write_rules(folder: Path, operators: list[str], *, team: str = "front") -> Path:
    """A rules file with the given sandbox operators (op1001...) and a one-skill catalogue."""
    lines = ["skills:", "  paid: Paid services", "operators:"]
    for op in operators:
        lines += [
            f"  - id: {op}",
            f"    name: Operator {op}",
            f"    endpoint: PJSIP/{op}",
            f"    team: {team}",
            "    skills: {paid: 3}",
        ]
    path = folder / "rules.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
