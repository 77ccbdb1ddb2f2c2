"""The running router's pruning of old history (`retention:` in router.yaml); the SQL is
`router.storage.retention`, the same `clinic-router retention` runs by hand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from router.config.retention_settings import RetentionSettings
from router.storage.retention import Plan, Pruner

log = logging.getLogger(__name__)

NOT_CONFIGURED = "retention: not configured (no `retention:` in router.yaml): nothing is pruned"
FIRST_S = 600.0  # after a start: not amid the reconnect's reconcile and the first calls


def plan_of(cfg: RetentionSettings) -> Plan:
    return Plan(cfg.days(), batch_rows=cfg.batch_rows, pause_s=cfg.pause_ms / 1000)


async def prune_every(
    pruner: Pruner,
    cfg: RetentionSettings | None,
    now: Callable[[], datetime],
    *,
    first_s: float = FIRST_S,
) -> None:
    """Prunes `first_s` after start, then every `cfg.every_h`. A failed pass is logged
    and tried again at the next one. Without a `retention:` section (`cfg` None) it
    says so once and prunes nothing: an upgrade must not start deleting history."""
    if cfg is None:
        log.info(NOT_CONFIGURED)
        return
    await asyncio.sleep(first_s)
    while True:
        try:
            deleted = await pruner.prune(plan_of(cfg), now())
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end pruning
            log.error("retention: pruning failed: %s: %s", type(exc).__name__, exc)
        else:
            if any(deleted.values()):
                log.info("retention: pruned %s", said(deleted))
        await asyncio.sleep(cfg.every_h * 3600.0)


def said(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in counts.items())


__all__ = ["NOT_CONFIGURED", "plan_of", "prune_every", "said"]
