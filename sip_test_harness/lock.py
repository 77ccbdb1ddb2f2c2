"""One user of the sandbox at a time.

The sandbox's ports are fixed (SIP 5060, phones 5071-5078...), so two test sessions, a
demo and a load run on one machine would steal each other's calls. Every user holds this
lock while it uses the sandbox; a second one waits (and says so) instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_PATH = Path(os.environ.get("CLINIC_ROUTER_SANDBOX_LOCK", "/tmp/clinic-router-sandbox.lock"))


@contextmanager
def sandbox_lock(path: Path = LOCK_PATH) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another user of the sandbox ({path})", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
