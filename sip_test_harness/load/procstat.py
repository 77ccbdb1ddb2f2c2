"""CPU time and memory of a process, read from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    """User + system CPU seconds of one process (all its threads) at one moment."""

    pid: int | None
    seconds: float


def cpu_seconds(pid: int | None) -> CpuSample:
    """utime + stime of ``pid``; 0 when unknown or gone."""
    if pid is None:
        return CpuSample(None, 0.0)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return CpuSample(pid, 0.0)
    fields = text.rsplit(")", 1)[-1].split()  # after "(comm)", which may hold spaces
    return CpuSample(pid, (int(fields[11]) + int(fields[12])) / _TICK)


def rss_mb(pid: int | None) -> float | None:
    """Resident set size in MB, None when unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def ms_per_call(before: CpuSample, after: CpuSample, calls: int) -> float | None:
    """CPU milliseconds per call between two samples of the same process."""
    if before.pid is None or before.pid != after.pid or calls <= 0:
        return None
    return round((after.seconds - before.seconds) * 1000 / calls, 2)
