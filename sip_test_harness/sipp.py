"""Async drivers for SIPp: the carrier placing calls, and the phones answering them.

    result = await place_call("79161234567", "74952232222", dtmf="1", hangup_after=5)
    async with Phones({"op1001": Behaviour(hold=5), "op1002": "busy"}) as phones:
        ...
        await phones.wait_for_invites("op1001", 1)
    assert phones.report("op1001").invites == 1

Every SIPp is killed on exit, also on exceptions and cancellation. Logs live in a
per-run folder that is deleted unless something failed (or ``keep_logs``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sip_test_harness.errors import SippError
from sip_test_harness.instance import current
from sip_test_harness.phones import (
    PHONE_NAMES,
    Phones,
    phone_endpoints,
    phone_port,
    wait_endpoint_state,
)
from sip_test_harness.sandbox_config import CALLER_PORTS, SIP_PORT
from sip_test_harness.scenarios import Behaviour, caller_scenario, cancel_scenario
from sip_test_harness.sipp_logs import CallSummary, PhoneReport, call_summary, read_shortmsg
from sip_test_harness.sipp_process import EXIT_BIND_FAILED, SippProcess, SippRun, udp_port_bound

__all__ = [
    "PHONE_NAMES",
    "Behaviour",
    "CallResult",
    "PhoneReport",
    "Phones",
    "phone_endpoints",
    "phone_port",
    "place_call",
    "wait_endpoint_state",
]


@dataclass(frozen=True)
class CallResult:
    """Outcome of one ``place_call``."""

    exit_code: int | None  # SIPp's: 0 = scenario completed; None = killed at our deadline
    summary: CallSummary
    duration: float
    port: int
    log_dir: Path | None  # kept when the call failed or keep_logs was set
    errors: str

    @property
    def ok(self) -> bool:
        """The scenario ran to its end (answered or, for cancel_after, cancelled)."""
        return self.exit_code == 0

    @property
    def answered(self) -> bool:
        """A 200 OK to the INVITE arrived."""
        return self.summary.answered

    @property
    def final_status(self) -> int | None:
        """Final response to the INVITE (200, 486, 404, ...), None if none arrived."""
        return self.summary.final_status

    @property
    def time_to_answer(self) -> float | None:
        """Seconds from the INVITE to the 200 OK."""
        return self.summary.time_to_answer

    @property
    def hangup_by(self) -> str | None:
        """``caller`` (BYE/CANCEL sent), ``far_end`` (BYE received) or None."""
        return self.summary.hangup_by

    def describe(self) -> str:
        """One paragraph for assertion messages: what happened and where the logs are."""
        text = (
            f"call from port {self.port}: SIPp exit {self.exit_code}, responses "
            f"{list(self.summary.statuses)}, answered={self.answered} after "
            f"{self.time_to_answer} s, hangup by {self.hangup_by}, {self.duration} s"
        )
        if self.log_dir is not None:
            text += f"; logs in {self.log_dir}"
        if self.errors:
            text += f"\nSIPp errors:\n{self.errors}"
        return text


async def place_call(
    from_number: str,
    did: str,
    *,
    dtmf: str = "",
    dtmf_delay: float = 1.0,
    hangup_after: float | None = None,
    cancel_after: float | None = None,
    timeout: float = 60.0,
    port: int | None = None,
    target: str | None = None,
    local_ip: str | None = None,
    keep_logs: bool = False,
) -> CallResult:
    """Call ``did`` from ``from_number`` as the carrier trunk and return when SIPp ends.

    After the answer: send ``dtmf`` (0-9 * #, ``,`` = 1 s pause) ``dtmf_delay`` s later,
    then hang up after ``hangup_after`` s, or (None) wait for the far end's BYE.
    ``cancel_after``: give up (CANCEL) after that long ringing instead. ``port``: source
    port (5061-5069); None picks a free one. ``timeout`` bounds the whole call.
    ``target``/``local_ip``: Asterisk's SIP address and ours (defaults: the current
    sandbox instance's, instance.py).
    """
    host = current().host
    target = target or f"{host}:{SIP_PORT}"
    local_ip = local_ip or host
    if cancel_after is not None:
        xml = cancel_scenario(cancel_after)
    else:
        xml = caller_scenario(dtmf=dtmf, hangup_after=hangup_after, dtmf_delay=dtmf_delay)
    workdir = Path(tempfile.mkdtemp(prefix="clinic-sipp-call-"))
    keep = False
    try:
        scenario = workdir / "caller.xml"
        scenario.write_text(xml)
        started = time.monotonic()
        process, code = await _run_caller(
            scenario, workdir, from_number, did, port, target, local_ip, timeout
        )
        failed = code != 0
        keep = failed or keep_logs
        return CallResult(
            code,
            call_summary(read_shortmsg(process.run.log("short"))),
            round(time.monotonic() - started, 3),
            process.run.port,
            workdir if keep else None,
            process.errors() if failed else "",
        )
    finally:
        if not keep:  # also after a cancellation or an error
            shutil.rmtree(workdir, ignore_errors=True)


async def _run_caller(
    scenario: Path,
    workdir: Path,
    from_number: str,
    did: str,
    port: int | None,
    target: str,
    local_ip: str,
    timeout: float,
) -> tuple[SippProcess, int | None]:
    """Run the caller SIPp to its end; on a port taken meanwhile, retry with the next one."""
    candidates = (
        [port] if port is not None else [p for p in CALLER_PORTS if not udp_port_bound(p, local_ip)]
    )
    for candidate in candidates:
        run = SippRun(
            name=f"caller-{candidate}",
            scenario=scenario,
            port=candidate,
            log_dir=workdir,
            max_calls=1,
            timeout=timeout,
            remote=target,
            service=did,
            variables={"from_user": from_number},
            timeout_is_error=True,
            local_ip=local_ip,
        )
        process = SippProcess(run)
        await process.start()
        try:
            code = await process.wait(timeout + 5)
        finally:
            await process.stop()
        if code != EXIT_BIND_FAILED:
            return process, code
    raise SippError(f"no free caller port among {candidates or CALLER_PORTS}")
