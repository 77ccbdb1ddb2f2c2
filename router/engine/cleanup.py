"""Ending Asterisk objects that may already be gone: one place for the "it's fine" cases."""

from __future__ import annotations

import logging

from router.ari import errors as ari_errors
from router.ari.client import AriClient

log = logging.getLogger(__name__)


async def hang_up(ari: AriClient, channel_id: str) -> None:
    """Hang a channel up; already gone (404) is the goal reached, anything else is logged."""
    try:
        await ari.hangup(channel_id)
    except ari_errors.AriNotFound:
        pass
    except ari_errors.AriError as exc:
        log.warning("hangup of %s failed: %s", channel_id, exc)


async def delete_bridge(ari: AriClient, bridge_id: str) -> None:
    """Delete a bridge; already gone is fine (Asterisk never deletes empty ARI bridges)."""
    try:
        await ari.delete_bridge(bridge_id)
    except ari_errors.AriNotFound:
        pass
    except ari_errors.AriError as exc:
        log.warning("deleting bridge %s failed: %s", bridge_id, exc)
