"""Ending Asterisk objects that may already be gone: one place for the "it's fine" cases."""

from __future__ import annotations

import asyncio
import logging

from router.ari import errors as ari_errors
from router.ari.client import AriClient

log = logging.getLogger(__name__)

# A bridge DELETE that timed out (an overloaded Asterisk) is tried again: Asterisk never
# deletes an empty ARI bridge by itself, so one given up on stays until a reconnect.
BRIDGE_DELETE_ATTEMPTS = 4
BRIDGE_DELETE_BACKOFF_S = 0.5  # doubled after each failed attempt: 0.5, 1, 2 s


async def hang_up(ari: AriClient, channel_id: str) -> None:
    """Hang a channel up; already gone (404) is the goal reached, anything else is logged."""
    try:
        await ari.hangup(channel_id)
    except ari_errors.AriNotFound:
        pass
    except ari_errors.AriError as exc:
        log.warning("hangup of %s failed: %s", channel_id, exc)


async def delete_bridge(
    ari: AriClient,
    bridge_id: str,
    *,
    attempts: int = BRIDGE_DELETE_ATTEMPTS,
    backoff_s: float = BRIDGE_DELETE_BACKOFF_S,
    create_in_flight: bool = False,
) -> bool:
    """Delete a bridge; already gone is fine. A timeout or 503 is retried with backoff
    (after a timeout Asterisk may have done it: the retry then gets 404). False when the
    bridge may still be there (the next reconcile deletes it). `create_in_flight`: the
    create's reply was lost, and an overloaded Asterisk may make the bridge after this
    DELETE, so a 404 is tried again too (with the same bounded backoff)."""
    for attempt in range(1, attempts + 1):
        try:
            await ari.delete_bridge(bridge_id)
            return True
        except ari_errors.AriNotFound:
            if not create_in_flight or attempt == attempts:
                return True
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
        except ari_errors.AriUnavailable as exc:
            if attempt == attempts:
                log.warning("deleting bridge %s failed %d times: %s", bridge_id, attempts, exc)
                return False
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
        except ari_errors.AriError as exc:
            log.warning("deleting bridge %s failed: %s", bridge_id, exc)
            return False
    return False
