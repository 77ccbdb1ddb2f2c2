"""The reference DDL in sql/ matches what the migrations create."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SQL = Path(__file__).resolve().parents[2] / "sql"


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_schema", SQL / "render_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_schema_files_are_up_to_date(dialect: str) -> None:
    renderer = _renderer()
    current = renderer.path_of(dialect).read_text(encoding="utf-8")
    assert current == renderer.render(dialect), "run: python sql/render_schema.py"
