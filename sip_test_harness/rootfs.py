"""The Debian sid root the sandbox's Asterisk runs in: build it once, mount, unmount.

Debian 12 has no ``asterisk`` package, sid does (docs/sandbox.md). The root is a
cache: built with debootstrap into ``<root>.partial`` and renamed only when complete,
so a half-built root is never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sip_test_harness.errors import SandboxError

SUITE = "sid"
MIRROR = os.environ.get("CLINIC_ROUTER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-config",
    "asterisk-core-sounds-ru",
    "asterisk-core-sounds-ru-gsm",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
)
COMPLETE_MARKER = ".clinic-sandbox-complete"
BIND_MOUNTS = ("/proc", "/dev")

Progress = Callable[[str], None]


def is_complete(root: Path) -> bool:
    """True when ``root`` holds a finished build (or a hand-made root with Asterisk)."""
    return (root / COMPLETE_MARKER).exists() or (root / "usr/sbin/asterisk").exists()


def build_root(root: Path, log_file: Path, progress: Progress) -> None:
    """Build the root with debootstrap unless it exists; raise SandboxError on failure."""
    if is_complete(root):
        return
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed (apt-get install debootstrap)")
    partial = root.with_name(root.name + ".partial")
    _remove_tree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(partial),
        MIRROR,
    ]
    progress(f"building the Asterisk root in {root} (debootstrap {SUITE}, about 1 min)")
    started = time.monotonic()
    code = _run_logged(argv, log_file, progress, started)
    unmount_all(partial)  # debootstrap mounts proc/sys inside; a failure may leave them
    if code != 0 or not (partial / "usr/sbin/asterisk").exists():
        _remove_tree(partial)  # up to 500 MB; the log says what went wrong
        raise SandboxError(
            f"building the sandbox root failed (debootstrap exit {code}): "
            f"{_last_error(log_file)}; full log: {log_file}"
        )
    (partial / COMPLETE_MARKER).write_text(" ".join(argv) + "\n")
    partial.rename(root)
    progress(f"root ready in {time.monotonic() - started:.0f} s: {root}")


def _run_logged(argv: list[str], log_file: Path, progress: Progress, started: float) -> int:
    """Run debootstrap, keep its whole output in ``log_file``, report each new phase.

    Per-package lines (Retrieving/Validating x 200) are counted, not echoed.
    """
    phase, count, last_report = "", 0, started
    with (
        log_file.open("w") as log,
        subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            words = line.split()
            if len(words) < 2 or words[0] not in ("I:", "E:", "W:"):
                continue
            key = "Retrieving" if words[1] == "Validating" else words[1]
            count = count + 1 if key == phase else 1
            now = time.monotonic()
            if key != phase or words[0] != "I:":
                phase, last_report = key, now
                progress(f"  [{now - started:4.0f} s] {line.strip()}")
            elif now - last_report >= 10:
                last_report = now
                progress(f"  [{now - started:4.0f} s] ... {count} lines of {phase}")
        return proc.wait()


def _last_error(log_file: Path) -> str:
    lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or ["no output"])[-1]


def _remove_tree(path: Path) -> None:
    """Delete a directory tree, first unmounting anything inside it (never follow mounts)."""
    if not path.exists():
        return
    unmount_all(path)
    if any(mounts_under(path)):
        raise SandboxError(f"cannot remove {path}: something is still mounted inside")
    shutil.rmtree(path)


def mounts_under(root: Path) -> Iterator[Path]:
    """Mount points at or below ``root``, deepest first, read from /proc/mounts."""
    prefix = str(root.resolve())
    points = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            target = _unescape(line.split()[1])
            if target == prefix or target.startswith(prefix + "/"):
                points.append(target)
    for target in sorted(points, key=len, reverse=True):
        yield Path(target)


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_binds(root: Path) -> None:
    """Bind-mount /proc and /dev into the root (idempotent)."""
    mounted = set(mounts_under(root))
    for source in BIND_MOUNTS:
        target = root / source.lstrip("/")
        if target.resolve() in mounted:
            continue
        target.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "--bind", source, str(target)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SandboxError(f"mount --bind {source} {target} failed: {result.stderr.strip()}")


def unmount_all(root: Path) -> None:
    """Unmount everything below ``root``; lazy unmount when a mount is busy."""
    for target in mounts_under(root):
        result = subprocess.run(["umount", str(target)], capture_output=True, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def processes_in(root: Path) -> list[int]:
    """PIDs of processes whose root directory is ``root`` (anything left in the chroot)."""
    wanted = str(root.resolve())
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/root") == wanted:
                pids.append(int(entry.name))
        except OSError:  # the process ended meanwhile, or a kernel thread
            continue
    return pids
