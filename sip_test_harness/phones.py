"""Simulated phones: one SIPp UAS per operator phone (or patients' phone, or all load
operators), started together, readiness checked through ARI, always stopped together.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import overload

import aiohttp

from sip_test_harness.errors import SippError
from sip_test_harness.instance import current
from sip_test_harness.probe import AriAccess
from sip_test_harness.sandbox_config import (
    LOAD_OPERATOR_PORT,
    LOAD_QUALIFY_S,
    OPERATORS,
    PATIENTS_PORT,
    PHONE_QUALIFY_S,
    operator_port,
    qualify_timeout_s,
)
from sip_test_harness.scenarios import Behaviour
from sip_test_harness.sipp_logs import PhoneReport, phone_report, read_shortmsg
from sip_test_harness.sipp_process import SippProcess, SippRun, udp_port_bound

PHONE_NAMES = (*OPERATORS, "patients", "lop")

log = logging.getLogger(__name__)


def phone_port(name: str) -> int:
    """SIP port of a simulated phone: op100N → 5070+N, ``patients`` → 5080, ``lop`` → 5100."""
    if name == "patients":
        return PATIENTS_PORT
    if name == "lop":
        return LOAD_OPERATOR_PORT
    return operator_port(name)


def phone_endpoints(name: str) -> tuple[str, ...]:
    """PJSIP endpoints whose qualify must succeed before the phone counts as ready."""
    return ("lop001", "lop200") if name == "lop" else (name,)


def settle_s(name: str) -> float:
    """After a phone binds its port, how long an `online` reading may still turn
    `offline`: an OPTIONS Asterisk sent before the bind is lost, and its timeout is applied
    up to one qualify timeout later, even after the next OPTIONS was answered (plus a
    margin for a loaded machine)."""
    period = LOAD_QUALIFY_S if name == "lop" else PHONE_QUALIFY_S
    return qualify_timeout_s(period) + 0.25


class Phones:
    """Simulated phones (one SIPp UAS each), started together, always stopped together.

    ``spec`` maps a phone (``op1001``..``op1008``, ``patients``, ``lop`` = all load
    operators on 5100) to a Behaviour or a string (``answer``, ``busy``, ``never``,
    ``delay:3``). Entering waits until every phone's endpoint is ``online`` in ARI
    (``ari=None`` skips that: for a PBX without ARI access).
    """

    def __init__(
        self,
        spec: Mapping[str, Behaviour | str],
        *,
        ari: AriAccess | None = None,
        use_ari: bool = True,
        ready_timeout: float = 15.0,
        timeout: float = 900.0,
        keep_logs: bool = False,
        local_ip: str | None = None,
    ) -> None:
        unknown = sorted(set(spec) - set(PHONE_NAMES))
        if unknown:
            raise SippError(f"unknown phones {unknown} (known: {', '.join(PHONE_NAMES)})")
        self.behaviours = {
            name: b if isinstance(b, Behaviour) else Behaviour.parse(b) for name, b in spec.items()
        }
        self.ari = (ari or AriAccess()) if use_ari else None
        self.ready_timeout = ready_timeout
        self.timeout = timeout
        self.keep_logs = keep_logs
        self.local_ip = local_ip or current().host  # the sandbox instance's by default
        self.log_dir: Path | None = None
        self._processes: dict[str, SippProcess] = {}
        self._final: dict[str, PhoneReport] = {}  # reports taken when the phones stopped

    async def __aenter__(self) -> Phones:
        self.log_dir = Path(tempfile.mkdtemp(prefix="clinic-sipp-phones-"))
        started = False
        try:
            await self._start_all()
            started = True
        finally:
            if not started:  # also on cancellation: no SIPp may outlive us
                await self.stop(keep_logs=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # a failing test keeps the logs to look at; a cancellation (Ctrl-C) does not
        failed = exc_type is not None and issubclass(exc_type, Exception)
        await self.stop(keep_logs=self.keep_logs or failed)
        if failed and self.log_dir is not None:
            exc_note = getattr(exc, "add_note", None)
            if exc_note is not None:
                exc_note(f"SIPp phone logs kept in {self.log_dir}")

    async def _start_all(self) -> None:
        assert self.log_dir is not None
        for name, behaviour in self.behaviours.items():
            port = phone_port(name)
            if udp_port_bound(port, self.local_ip):
                raise SippError(
                    f"phone {name}: port {self.local_ip}:{port}/udp already in use "
                    "(a SIPp left over from another run?)"
                )
            scenario = self.log_dir / f"{name}.xml"
            scenario.write_text(behaviour.scenario())
            run = SippRun(
                name=name,
                scenario=scenario,
                port=port,
                log_dir=self.log_dir,
                max_calls=10_000_000,
                timeout=self.timeout,
                full_trace=name != "lop",
                local_ip=self.local_ip,
            )
            self._processes[name] = SippProcess(run)
            await self._processes[name].start()
        deadline = time.monotonic() + self.ready_timeout
        await asyncio.gather(*(self._wait_ready(name, deadline) for name in self._processes))

    async def _wait_ready(self, name: str, deadline: float) -> None:
        process = self._processes[name]
        while not udp_port_bound(process.run.port, self.local_ip):
            self._check_alive(name)
            if time.monotonic() > deadline:
                raise SippError(f"phone {name} did not bind port {process.run.port}")
            await asyncio.sleep(0.02)
        # Only an `online` read once the OPTIONS sent before the bind have timed out is
        # final: read earlier, it may flip to `offline` for a qualify period, and a call
        # placed then skips the phone as unreachable.
        settled = time.monotonic() + settle_s(name)
        if self.ari is not None:
            for endpoint in phone_endpoints(name):
                await wait_endpoint_state(
                    self.ari,
                    endpoint,
                    "online",
                    max(0.1, deadline - time.monotonic()),
                    check=lambda: self._check_alive(name),
                    not_before=settled,
                )

    def _check_alive(self, name: str) -> None:
        process = self._processes[name]
        if process.returncode is not None:
            raise SippError(f"phone {name} exited with {process.returncode}: {process.errors()}")

    async def stop(self, keep_logs: bool = False) -> None:
        """Stop every phone (idempotent); delete the logs unless ``keep_logs``."""
        if self._processes and self.log_dir is not None:
            for process in self._processes.values():
                process.terminate()  # synchronously, before a cancellation can interrupt us
            await asyncio.gather(*(p.stop() for p in self._processes.values()))
            self._final = self.reports()
            await self._wait_gone()
        if self.log_dir is not None and not keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = None

    async def _wait_gone(self) -> None:
        # Until Asterisk's qualify sees a stopped phone gone (~2 s: one OPTIONS, 1 s
        # timeout), its endpoint still reads `online`: the next phone on that endpoint
        # would pass its own readiness check on the stale state, then flip offline under
        # the first call. Waiting here leaves the next test a state it can trust.
        if self.ari is None:
            return
        endpoints = [e for name in self._processes for e in phone_endpoints(name)]
        results = await asyncio.gather(
            *(wait_endpoint_state(self.ari, e, "online", 4.0, negate=True) for e in endpoints),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, SippError):
                log.warning("%s", result)  # the next readiness check will say more

    @overload
    def report(self) -> dict[str, PhoneReport]: ...

    @overload
    def report(self, name: str) -> PhoneReport: ...

    def report(self, name: str | None = None) -> PhoneReport | dict[str, PhoneReport]:
        """INVITEs a phone received so far (or in total, after exit); all phones without name."""
        if name is None:
            return self.reports()
        if name not in self.behaviours:
            raise SippError(f"phone {name} is not part of this Phones set")
        process = self._processes.get(name)
        if self.log_dir is None or process is None:
            return self._final.get(name, PhoneReport(name))
        return phone_report(name, read_shortmsg(process.run.log("short")))

    def reports(self) -> dict[str, PhoneReport]:
        """``report`` of every phone, by name."""
        return {name: self.report(name) for name in self.behaviours}

    async def wait_until(
        self,
        name: str,
        predicate: Callable[[PhoneReport], bool],
        timeout: float = 10.0,
    ) -> PhoneReport:
        """Poll phone ``name``'s report until ``predicate`` holds; SippError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.report(name)
            if predicate(report):
                return report
            if time.monotonic() > deadline:
                raise SippError(f"phone {name}: condition not met in {timeout} s ({report})")
            await asyncio.sleep(0.05)

    async def wait_for_invites(
        self,
        name: str,
        count: int = 1,
        timeout: float = 10.0,
    ) -> PhoneReport:
        """Wait until phone ``name`` has received at least ``count`` INVITEs."""
        return await self.wait_until(name, lambda r: r.invites >= count, timeout)

    async def wait_idle(self, name: str, timeout: float = 10.0) -> PhoneReport:
        """Wait until phone ``name`` has no call ringing or in progress."""
        return await self.wait_until(name, lambda r: r.in_progress == 0, timeout)


async def wait_endpoint_state(
    ari: AriAccess,
    endpoint: str,
    state: str,
    timeout: float,
    check: Callable[[], None] | None = None,
    negate: bool = False,
    not_before: float = 0.0,
) -> None:
    """Poll ``GET /ari/endpoints/PJSIP/<endpoint>`` until its state is ``state`` (with
    ``negate``: until it is anything else, no answer included), read at or after
    ``not_before`` (``time.monotonic()``).

    With qualify_frequency=1 a phone turns ``online`` about 1 s after it starts and
    ``offline`` a few seconds after it stops. ``check`` runs each round (may raise).
    """
    headers = {"Authorization": ari.authorization()}
    deadline = time.monotonic() + timeout
    seen = "no answer"
    async with aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=2)
    ) as session:
        while True:
            if check is not None:
                check()
            asked = time.monotonic()
            try:
                async with session.get(f"{ari.url}/endpoints/PJSIP/{endpoint}") as response:
                    body = await response.json() if response.status == 200 else {}
                    seen = str(body.get("state", f"HTTP {response.status}"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                seen = f"{type(exc).__name__}: {exc}"
            if (seen == state) != negate and asked >= not_before:
                return
            if time.monotonic() > deadline:
                wanted = f"still {state}" if negate else f"not {state}"
                raise SippError(
                    f"endpoint PJSIP/{endpoint} {wanted} after {timeout} s (last: {seen})"
                )
            await asyncio.sleep(0.1)
