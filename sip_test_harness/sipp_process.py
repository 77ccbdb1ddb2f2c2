"""One SIPp process: argv with pinned defaults, start, stop (always), logs.

Every SIPp gets its own SIP port, its own media ports (``-mp``; SIPp binds mp and
mp+2), a call limit (``-m``) and a global timeout, and writes its short-message,
message and error logs into its own folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sip_test_harness.errors import SippError
from sip_test_harness.instance import current

SIPP = "sipp"
HOST = "127.0.0.1"
EXIT_BIND_FAILED = 254  # SIPp: "Unable to bind main socket"


def media_port(sip_port: int) -> int:
    """The RTP port block of the SIPp on ``sip_port`` (4 ports apart, below Asterisk's)."""
    return 6000 + (sip_port - 5000) * 4


@dataclass(frozen=True)
class SippRun:
    """Everything one SIPp invocation needs; ``argv()`` is pure and unit-tested."""

    name: str
    scenario: Path
    port: int
    log_dir: Path
    max_calls: int
    timeout: float
    remote: str | None = None  # host:port for a UAC; None for a UAS
    service: str | None = None  # -s: the request URI user (the DID)
    variables: Mapping[str, str] | None = None  # -set name value
    timeout_is_error: bool = False
    full_trace: bool = True  # -trace_msg (every message in full)
    # SIP and RTP address of this SIPp: the sandbox instance's (a real PBX needs a routable one)
    local_ip: str = field(default_factory=lambda: current().host)
    extra: tuple[str, ...] = ()  # more options (load runs: -r, -inf, -l, -trace_logs ...)

    def log(self, kind: str) -> Path:
        """Path of one of this run's logs: ``short``, ``messages``, ``errors``, ``stderr``."""
        return self.log_dir / f"{self.name}.{kind}.log"

    def argv(self) -> list[str]:
        """The SIPp command line."""
        argv = [
            SIPP,
            "-sf",
            str(self.scenario),
            "-i",
            self.local_ip,
            "-p",
            str(self.port),
            "-mi",
            self.local_ip,
            "-mp",
            str(media_port(self.port)),
            "-m",
            str(self.max_calls),
            "-timeout",
            f"{max(1, round(self.timeout))}s",
            "-nostdin",
            "-aa",
            "-trace_shortmsg",
            "-shortmessage_file",
            str(self.log("short")),
            "-trace_err",
            "-error_file",
            str(self.log("errors")),
        ]
        if self.full_trace:
            argv += ["-trace_msg", "-message_file", str(self.log("messages"))]
        if self.timeout_is_error:
            argv.append("-timeout_error")
        if self.service is not None:
            argv += ["-s", self.service]
        for key, value in (self.variables or {}).items():
            argv += ["-set", key, value]
        argv += self.extra
        if self.remote is not None:
            argv.append(self.remote)
        return argv


class SippProcess:
    """A running SIPp in its own process group; ``stop`` is safe to call any time."""

    def __init__(self, run: SippRun) -> None:
        self.run = run
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Spawn SIPp (stdout discarded: it is a screen UI; stderr kept in a file)."""
        self.run.log_dir.mkdir(parents=True, exist_ok=True)
        with self.run.log("stderr").open("wb") as stderr:
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.run.argv(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise SippError("sipp is not installed (apt-get install sip-tester)") from exc

    @property
    def pid(self) -> int | None:
        """PID while started."""
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """Exit code once SIPp has exited."""
        return self._proc.returncode if self._proc else None

    async def wait(self, timeout: float) -> int | None:
        """Wait for SIPp to exit by itself; its exit code, or None if still running."""
        if self._proc is None:
            return None
        try:
            return await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            return None

    async def stop(self, grace: float = 3.0) -> None:
        """SIGTERM the process group (SIPp then writes its final logs), SIGKILL after ``grace``."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self.terminate()  # sent before any await: survives our own cancellation
        if await self.wait(grace) is None:
            self._signal(signal.SIGKILL)
            await proc.wait()

    def terminate(self) -> None:
        """Send SIGTERM now, without waiting (SIPp writes its logs and exits)."""
        if self._proc is not None and self._proc.returncode is None:
            self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def errors(self, lines: int = 10) -> str:
        """The last lines SIPp reported as errors (error log, then stderr)."""
        out = []
        for kind in ("errors", "stderr"):
            try:
                text = self.run.log(kind).read_text(errors="replace").strip()
            except OSError:
                continue
            if text:
                out += text.splitlines()[-lines:]
        return "\n".join(out)


def udp_port_bound(port: int, host: str = HOST) -> bool:
    """True when some socket is bound to ``host:port``/UDP (read from /proc, never binds)."""
    wanted_port = f"{port:04X}"
    wanted_host = "".join(f"{int(part):02X}" for part in reversed(host.split(".")))
    try:
        with open("/proc/net/udp") as table:
            next(table)
            for line in table:
                local = line.split()[1]
                addr, _, hex_port = local.partition(":")
                if hex_port == wanted_port and addr in (wanted_host, "00000000"):
                    return True
    except OSError:
        return False
    return False
