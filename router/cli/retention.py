"""`clinic-router retention [--dry-run]`: prune the history past `retention:` by hand.

The running router prunes on its own every `retention.every_h`; this runs the same pass
now (safe while the router runs: the same small batches), or with `--dry-run` only says
how many rows each table would lose; without a `retention:` section it deletes nothing
and says so. Exit codes: 0 done, 2 the database cannot be opened.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any, TextIO

from router.cli.store import with_store
from router.config.settings import Settings
from router.engine.retention import NOT_CONFIGURED, plan_of
from router.storage.retention import Pruner
from router.storage.store import Store


def add_retention_parser(subparsers: Any, default_config: str) -> None:
    """Add `retention` to the `clinic-router` sub-commands (`run_retention` handles it)."""
    parser = subparsers.add_parser(
        "retention", help="delete the history older than `retention:` keeps (docs/operations.md)"
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would go")
    parser.add_argument("--config", default=default_config, help="settings (router.yaml)")


async def run_retention(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    cfg = settings.retention
    if cfg is None:  # deleting history is asked for in router.yaml, never a default
        print(NOT_CONFIGURED, file=out)
        return 0
    now = datetime.now(UTC)

    async def command(store: Store) -> int:
        pruner = Pruner(store.db)
        plan = plan_of(cfg)
        counts = await (pruner.count(plan, now) if args.dry_run else pruner.prune(plan, now))
        verb = "would delete" if args.dry_run else "deleted"
        for kind, days in cfg.days().items():
            if days is None:
                print(f"{kind}: kept for ever", file=out)
        for table, n in counts.items():
            print(f"{table}: {verb} {n}", file=out)
        return 0

    return await with_store(settings, command)


__all__ = ["add_retention_parser", "run_retention"]
