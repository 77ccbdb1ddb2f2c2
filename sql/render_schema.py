"""Regenerate the reference DDL in sql/ from the migrations: `python sql/render_schema.py`.

The files are for reading and for DBAs who apply DDL by hand; the router itself migrates
with `router.storage.migrate.migrate(url)`. A unit test fails when they are out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIALECTS = {"postgresql": "postgresql+asyncpg://", "sqlite": "sqlite+aiosqlite://"}
HEADER = (
    "-- clinic-router schema for {dialect}, generated from router/storage/migrations\n"
    "-- by sql/render_schema.py. Do not edit: write a migration, then regenerate.\n\n"
)


def render(dialect: str) -> str:
    from router.storage.migrate import render_sql

    body = render_sql(DIALECTS[dialect])
    # alembic pads column lines with a trailing space; strip it so diffs stay clean.
    lines = [line.rstrip() for line in body.splitlines()]
    return HEADER.format(dialect=dialect) + "\n".join(lines).strip() + "\n"


def path_of(dialect: str) -> Path:
    return HERE / f"schema.{dialect}.sql"


def main() -> None:
    sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
    for dialect in DIALECTS:
        path_of(dialect).write_text(render(dialect), encoding="utf-8")
        print(f"wrote {path_of(dialect)}")


if __name__ == "__main__":
    main()
