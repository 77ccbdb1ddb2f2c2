"""AGI mode's part of the running router, built by the composition root."""

from __future__ import annotations

from router.agi.call import agi_routes
from router.agi.server import FastAgiServer
from router.config.agi_settings import AgiSettings
from router.engine.context import CallContext


async def start_agi(settings: AgiSettings, ctx: CallContext) -> FastAgiServer | None:
    """The FastAGI server when `agi.enabled` (None otherwise), listening already."""
    if not settings.enabled:
        return None
    server = FastAgiServer(
        agi_routes(ctx), settings.host, settings.port, header_timeout_s=settings.header_timeout_s
    )
    await server.start()
    return server
