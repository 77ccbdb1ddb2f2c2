"""Which sandbox this process uses, when several run side by side on one machine.

Every sandbox is a whole Asterisk with the harness's fixed ports (SIP 5060, ARI 8088,
phones 5071-5078, ...), so two of them differ by their loopback address instead:
instance 0 (the default, and the only one before there were several) on 127.0.0.1,
instance N on 127.0.N.1, with its own lock file and its own Asterisk folders. Linux
routes all of 127.0.0.0/8 to the loopback interface, so no address needs setting up.

``CLINIC_ROUTER_SANDBOX_INSTANCE=N`` picks one for a process: every default of the
harness (the sandbox, its lock, phones, callers, the router's ARI URL) follows it.
Under pytest-xdist, worker ``gwK`` takes instance N+K (tests/asterisk/conftest.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sip_test_harness.errors import SandboxError

ENV = "CLINIC_ROUTER_SANDBOX_INSTANCE"
LOCK_ENV = "CLINIC_ROUTER_SANDBOX_LOCK"
DEFAULT_LOCK = "/tmp/clinic-router-sandbox.lock"
MAX_INSTANCE = 63


@dataclass(frozen=True)
class Instance:
    """Sandbox instance ``number``: its addresses, lock file and folder suffix."""

    number: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.number <= MAX_INSTANCE:
            raise SandboxError(f"sandbox instance {self.number} is not in 0..{MAX_INSTANCE}")

    @property
    def host(self) -> str:
        """Where this instance's Asterisk listens, and its phones and callers too."""
        return f"127.0.{self.number}.1"

    @property
    def spare_host(self) -> str:
        """A second address of this instance, for a PBX a test runs beside the sandbox
        (tests/asterisk/test_stock_pbx.py): never used by another instance."""
        return f"127.0.{self.number}.2"

    @property
    def suffix(self) -> str:
        """Appended to the instance's folders and lock file: '' for instance 0."""
        return f"-{self.number}" if self.number else ""

    @property
    def lock_path(self) -> Path:
        """``$CLINIC_ROUTER_SANDBOX_LOCK`` (default /tmp/clinic-router-sandbox.lock), with
        the suffix before the extension: instance 1 locks ``...-sandbox-1.lock``."""
        base = Path(os.environ.get(LOCK_ENV, DEFAULT_LOCK))
        return base.with_name(f"{base.stem}{self.suffix}{base.suffix}")


def current() -> Instance:
    """The instance named by ``$CLINIC_ROUTER_SANDBOX_INSTANCE`` (0 when unset)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return Instance()
    try:
        number = int(raw)
    except ValueError:
        raise SandboxError(f"{ENV}={raw!r} is not a number (0..{MAX_INSTANCE})") from None
    return Instance(number)


def for_xdist_worker(worker: str | None) -> int | None:
    """The number K of pytest-xdist worker ``gwK``, None outside xdist."""
    if not worker or not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    return int(worker[2:])
