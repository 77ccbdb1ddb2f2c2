"""A feature code call from an operator's phone (dialplan: Stasis(clinic-router,feature,CODE)).

The operator is whoever owns the calling endpoint: the code cannot name someone else.
The caller hears a beep when the change is made and an error tone when it is refused.
"""

from __future__ import annotations

import asyncio
import logging

from router.ari import errors as ari_errors
from router.ari.events import StasisStart
from router.domain.feature_codes import parse_feature_code
from router.domain.operators import Presence
from router.engine.cleanup import hang_up
from router.engine.context import CallContext
from router.engine.reconcile import endpoint_of

log = logging.getLogger(__name__)

FEATURE_ARG = "feature"
CONFIRM = "sound:beep"
REFUSE = "sound:an-error-has-occurred"


async def handle_feature_code(ctx: CallContext, event: StasisStart) -> None:
    channel = event.channel
    code = event.args[1] if len(event.args) > 1 else ""
    change = parse_feature_code(code[:8])
    status = ctx.board.by_endpoint(endpoint_of(channel.name))
    ok = change is not None and status is not None
    if change is not None and status is not None:
        if change.presence is Presence.AVAILABLE and status.presence not in (
            Presence.PAUSED,
            Presence.OFFLINE,
        ):
            ok = status.presence is Presence.AVAILABLE  # on a call or ringing: nothing to do
        else:
            ctx.board.set(status.id, change.presence, change.reason)
            log.info(
                "operator %s %s%s by feature code",
                status.id,
                change.presence,
                f" ({change.reason})" if change.reason else "",
            )
    else:
        log.warning("feature code %r from %s refused", code[:8], channel.name)
    try:
        await ctx.ari.play(channel.id, [CONFIRM if ok else REFUSE])
        await asyncio.sleep(1.5)  # let the tone play; the phone hangs up or we do
    except ari_errors.AriError:
        pass
    await hang_up(ctx.ari, channel.id)
