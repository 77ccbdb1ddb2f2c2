"""AGI mode's part of the running router, built by the composition root: the FastAGI
server, and the AMI connection that follows the decided calls through app_queue."""

from __future__ import annotations

import asyncio
import contextlib
import os

from router.agi.call import agi_routes
from router.agi.server import FastAgiServer
from router.ami.connection import AmiConnection
from router.ami.records import AmiCalls
from router.config.agi_settings import AgiSettings
from router.engine.context import CallContext


class AgiService:
    def __init__(self, server: FastAgiServer, calls: AmiCalls, ami: AmiConnection | None) -> None:
        self.server, self.calls, self.ami = server, calls, ami
        self._ami_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.start()
        if self.ami is not None:
            self._ami_task = asyncio.create_task(self.ami.run(), name="AMI events")

    async def close(self) -> None:
        """Stop deciding (a call being decided goes on in the dialplan), then stop
        following: a restart follows the calls still open."""
        await self.server.close()
        if self._ami_task is not None:
            self._ami_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ami_task


async def start_agi(
    settings: AgiSettings, ctx: CallContext, ari_password: str
) -> AgiService | None:
    """AGI mode when `agi.enabled` (None otherwise), listening already."""
    if not settings.enabled:
        return None
    calls = AmiCalls(ctx)
    ami = None
    if settings.ami:
        secret = os.environ.get(settings.ami_secret_env) or ari_password
        ami = AmiConnection(
            settings.ami_host, settings.ami_port, settings.ami_username, secret, calls.on_event
        )
    server = FastAgiServer(
        agi_routes(ctx, calls.track),
        settings.host,
        settings.port,
        header_timeout_s=settings.header_timeout_s,
    )
    service = AgiService(server, calls, ami)
    await service.start()
    return service
