"""One user of a sandbox at a time.

A sandbox's ports are fixed (SIP 5060, phones 5071-5078...), so two test sessions, a
demo and a load run on one machine would steal each other's calls. Every user holds its
instance's lock while it uses the sandbox (sip_test_harness/instance.py: instance 0's is
/tmp/clinic-router-sandbox.lock); a second one waits (and says so) instead of failing.
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sip_test_harness.instance import current


@contextmanager
def sandbox_lock(path: Path | None = None) -> Iterator[None]:
    """Hold the lock of ``path``, by default the current instance's."""
    with file_lock(path or current().lock_path, "another user of the sandbox"):
        yield


@contextmanager
def file_lock(path: Path, holder: str) -> Iterator[None]:
    """An exclusive flock on ``path``; says on stderr when it waits for ``holder``."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {holder} ({path})", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
