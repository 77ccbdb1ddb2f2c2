"""AGI mode's part of the running router, built by the composition root: the FastAGI
server, and the AMI connection that follows the decided calls through app_queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from router.agi.call import agi_routes
from router.agi.queue_files import queue_files, write_queue_files
from router.agi.server import FastAgiServer
from router.ami.callbacks import AmiDialer
from router.ami.connection import AmiConnection, AmiError, EventSink
from router.ami.presence import AmiPresence
from router.ami.protocol import Message
from router.ami.records import AmiCalls
from router.config.rules import Rules
from router.config.settings import Settings
from router.engine.context import CallContext

log = logging.getLogger(__name__)


class AgiService:
    def __init__(
        self,
        server: FastAgiServer,
        calls: AmiCalls,
        ami: AmiConnection | None,
        settings: Settings,
        presence: AmiPresence | None = None,
    ) -> None:
        self.server, self.calls, self.ami = server, calls, ami
        self.presence = presence
        self._settings = settings
        self._ami_task: asyncio.Task[None] | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self.dialer: AmiDialer | None = None
        if ami is not None:
            ami.on_connected = self._on_login

    async def _on_login(self) -> None:
        """After each AMI login: the queue files may have been written while it was away,
        and calls may have ended (or still wait) while nobody followed them."""
        assert self.ami is not None
        if self._settings.agi.queues_dir is not None:
            await self._queue_reload()
        asked_at = self.calls.mark()
        try:
            channels = await self.ami.channels()
        except AmiError as exc:
            log.warning("cannot list Asterisk's channels to resync AGI-mode calls: %s", exc)
            return
        await self.calls.resync(channels, asked_at)
        await self._presence_resync()

    async def _presence_resync(self) -> None:
        """app_queue's members as they are now: pauses and calls (router/ami/presence.py)."""
        if self.ami is None or self.presence is None:
            return
        try:
            members = await self.ami.action_list("QueueStatus", "QueueStatusComplete")
        except AmiError as exc:
            log.warning("cannot read app_queue's members to resync presence: %s", exc)
            return
        self.presence.resync([m for m in members if m.get("Event") == "QueueMember"])

    async def _queue_reload(self) -> None:
        assert self.ami is not None
        try:
            await self.ami.action(
                "QueueReload", {"Members": "yes", "Rules": "yes", "Parameters": "yes"}
            )
        except AmiError as exc:  # the next login reloads them
            log.warning("app_queue reload failed: %s", exc)

    async def rules_changed(self, rules: Rules) -> None:
        """app_queue follows the rules: its queue files rewritten, then reloaded."""
        folder = self._settings.agi.queues_dir
        if folder is None:
            return
        routing = self._settings.routing
        files = queue_files(
            rules, routing.ring_timeout_s, routing.unrouted_max_wait_s, routing.wrap_up_s
        )
        try:
            changed = await asyncio.to_thread(write_queue_files, folder, files)
        except OSError as exc:
            log.error("cannot write the AGI-mode queues into %s: %s", folder, exc)
            return
        if changed and self.ami is not None and self.ami.connected.is_set():
            await self._queue_reload()
            log.info("app_queue reloaded with the AGI-mode queues of rules %s", rules.version)
            await self._presence_resync()  # members may have come or gone

    async def start(self) -> None:
        await self.server.start()
        if self.ami is not None:
            self._ami_task = asyncio.create_task(self.ami.run(), name="AMI events")
        if self.presence is not None:
            self._presence_task = asyncio.create_task(self.presence.run(), name="AMI pauses")

    async def close(self) -> None:
        """Stop deciding (a call being decided goes on in the dialplan), then stop
        following: a restart follows the calls still open."""
        await self.server.close()
        self.calls.close()
        for task in (self._presence_task, self._ami_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def start_agi(settings: Settings, ctx: CallContext, ari_password: str) -> AgiService | None:
    """AGI mode when `agi.enabled` (None otherwise), listening already."""
    agi = settings.agi
    if not agi.enabled:
        return None
    calls = AmiCalls(ctx)
    routes = agi_routes(ctx, calls if agi.ami else None)
    ami = dialer = presence = None
    if agi.ami:
        secret = os.environ.get(agi.ami_secret_env) or ari_password
        ami = AmiConnection(agi.ami_host, agi.ami_port, agi.ami_username, secret, calls.on_event)
        calls.connected = ami.connected.is_set
        calls.channels = ami.channels
        dialer = AmiDialer(ami)
        presence = AmiPresence(ctx, ami.action, ami.connected.is_set)
        calls.presence = presence
        ami.on_event = _each(calls.on_event, dialer.on_event, presence.on_event)
        routes["callback"] = dialer.agi_callback
    server = FastAgiServer(routes, agi.host, agi.port, header_timeout_s=agi.header_timeout_s)
    service = AgiService(server, calls, ami, settings, presence)
    # callbacks over AMI Originate for the dispatcher (router/ami/callbacks.py): not
    # called by it yet (docs/agi-mode.md)
    service.dialer = dialer
    await service.rules_changed(ctx.rules())
    await service.start()
    return service


def _each(*sinks: EventSink) -> EventSink:
    def deliver(event: Message) -> None:
        for sink in sinks:
            sink(event)

    return deliver
