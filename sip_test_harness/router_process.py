"""The router as a real process: for the demo, the load runner, and tests that kill,
freeze and restart it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from sip_test_harness.instance import current
from sip_test_harness.router_fork import ForkedRouter, start_forked
from sip_test_harness.sandbox_config import HTTP_PORT

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789"
ARI_PASSWORD = "clinic-router-secret"


# How long a started router may take to serve /health with ARI connected: a deadline, not
# a sleep (a quick start returns at once). 20 s failed several tests' starts on the
# 2-core machine with two test workers and other sessions' sandboxes (load average 10).
START_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RouterProcess:
    """Writes a settings file into `workdir` and runs `clinic-router run` on it (forked
    from a process that has imported the router, or `python -m router run`)."""

    def __init__(
        self,
        workdir: Path,
        *,
        rules: Path | None = None,
        ring_timeout_s: int = 6,
        wrap_up_s: float = 0,
        app: str = "clinic-router",
        extra_settings: str = "",
        pause_after_no_answers: int = 3,
        log_level: str = "debug",
        db_url: str | None = None,
        fork: bool = True,
    ) -> None:
        self.workdir = workdir
        # True: forked from a process that imported the router once (router_fork.py);
        # False: `python -m router run`, a Python of its own
        self.fork = fork
        self.port = free_port()
        self.db_path = workdir / "router.db"
        # Several routers on one database (PostgreSQL) share a URL; by default each has
        # its own SQLite file in its workdir.
        self.db_url = db_url or f"sqlite+aiosqlite:///{self.db_path}"
        self.config = workdir / "router.yaml"
        self.log_path = workdir / "router.log"
        self.rules = rules or REPO / "config" / "rules.yaml"
        self.ring_timeout_s = ring_timeout_s
        self.wrap_up_s = wrap_up_s
        self.app = app
        self.log_level = log_level
        self.pause_after_no_answers = pause_after_no_answers
        self.extra_settings = extra_settings  # more router.yaml sections, e.g. crm:
        self.proc: subprocess.Popen[bytes] | ForkedRouter | None = None
        # the current sandbox instance's ARI (instance.py)
        self.ari_url = f"http://{current().host}:{HTTP_PORT}/ari"
        self._write_config()

    def _write_config(self) -> None:
        self.config.write_text(
            "ari:\n"
            f"  url: {self.ari_url}\n"
            "  username: clinic-router\n"
            "  password_env: CLINIC_ROUTER_ARI_PASSWORD\n"
            f"  app: {self.app}\n"
            "database:\n"
            f"  url: {json.dumps(self.db_url)}\n"
            "http:\n"
            "  host: 127.0.0.1\n"
            f"  port: {self.port}\n"
            "  token_env: CLINIC_ROUTER_API_TOKEN\n"
            "logging:\n"
            f"  level: {self.log_level}\n"
            "routing:\n"
            f"  rules: {self.rules}\n"
            f"  ring_timeout_s: {self.ring_timeout_s}\n"
            f"  wrap_up_s: {self.wrap_up_s}\n"
            f"  pause_after_no_answers: {self.pause_after_no_answers}\n" + self._extra(),
            encoding="utf-8",
        )

    def _extra(self) -> str:
        # Callback dispatch rings free operators on its own: runs that are not about it
        # keep it off, so their phones see only the calls they place.
        if "callbacks:" in self.extra_settings:
            return self.extra_settings
        return self.extra_settings + "callbacks:\n  enabled: false\n"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(CLINIC_ROUTER_ARI_PASSWORD=ARI_PASSWORD, CLINIC_ROUTER_API_TOKEN=TOKEN)
        env.pop("CLINIC_ROUTER_DB_URL", None)
        return env

    @property
    def pid(self) -> int | None:
        """PID of the router process while started."""
        return self.proc.pid if self.proc is not None else None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "router", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )

    async def import_patients(self, csv: Path) -> None:
        """`clinic-router patients import CSV` into this router's database, in this
        process: the same function the command calls, without a new Python's 4-5 s of
        imports (over 10 s on a loaded machine). The command line itself is tested with
        the import (tests/component)."""
        from router.cli.patients import import_csv
        from router.config.settings import load_settings

        settings = load_settings(self.config, env=self.env, secrets=False)
        code = await import_csv(settings, csv, workers=0)  # a few rows: no worker processes
        assert code == 0, f"patients import {csv} exited with {code}"

    async def start(self, wait_connected: bool = True) -> None:
        argv = ["run", "--config", str(self.config)]
        if self.fork:  # the imports done once (router_fork.py); the first start waits for them
            self.proc = await asyncio.to_thread(start_forked, argv, self.env, REPO, self.log_path)
        else:
            log = self.log_path.open("ab")
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - we need the Popen to signal it
                [sys.executable, "-m", "router", *argv],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
            log.close()
        if wait_connected:  # a new Python's imports take 4-5 s here idle, 20 s and more loaded
            await self.wait_health(lambda h: h.get("ari_connected") is True, START_S)

    async def wait_health(self, predicate: Any, timeout: float) -> dict[str, Any]:
        return await self.wait_get("/health", predicate, timeout)

    async def wait_get(self, path: str, predicate: Any, timeout: float) -> dict[str, Any]:
        """Poll `GET path` until `predicate(body)` holds; fail with the router's log."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"router exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                last = await self.get(path)
                if predicate(last):
                    return dict(last)
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"{path} never matched (last {last}):\n{self.tail()}")

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                f"http://127.0.0.1:{self.port}{path}",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    async def get(self, path: str) -> Any:
        _, body = await self.request("GET", path)
        return body

    async def calls(self) -> list[dict[str, Any]]:
        return list((await self.get("/api/calls?limit=100"))["calls"])

    async def wait_calls(
        self, count: int, timeout: float = 30, ended: bool = True
    ) -> list[dict[str, Any]]:
        """Wait until `count` calls exist (and have an outcome); newest first."""
        deadline = time.monotonic() + timeout
        calls: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            calls = await self.calls()
            done = [c for c in calls if c["outcome"]] if ended else calls
            if len(done) >= count:
                return calls
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"expected {count} calls, have {json.dumps(calls, indent=1)}\n{self.tail()}"
        )

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no router log)"
        return "\n".join(text.splitlines()[-lines:])
