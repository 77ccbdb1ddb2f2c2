"""The Asterisk sandbox: a real Asterisk 22 on loopback for the real-Asterisk test tier.

Uses the system's Asterisk when ``asterisk`` is on PATH, otherwise a Debian sid root
built once with debootstrap (see rootfs.py) and run with chroot. Either way Asterisk
reads only the config the sandbox generates (sandbox_config.py), in its own etc dir.

``up`` on a sandbox that is already up rewrites the config (including the dialplan the
product's generator renders, router/asterisk_config) and runs ``core reload``: calls in
progress survive.
Use ``restart_asterisk`` for a fresh Asterisk (``core restart now``).

Several sandboxes run side by side as instances (instance.py): instance N listens on
127.0.N.1 and keeps its config, AstDB, spool and logs in folders of its own
(``/etc/asterisk.clinic-N`` ..., state in ``<root>.run-N``), in the same Debian root.
Starting, stopping and restarting one never touches another's Asterisk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sip_test_harness import rootfs
from sip_test_harness.errors import SandboxError
from sip_test_harness.instance import Instance, current
from sip_test_harness.lock import file_lock
from sip_test_harness.probe import AriAccess, ari_get, port_in_use, websocket_accepted
from sip_test_harness.processes import alive, command_line, terminate_group, wait_exit
from sip_test_harness.prompts import install_prompts
from sip_test_harness.sandbox_config import (
    AMI_PORT,
    HTTP_PORT,
    SIP_PORT,
    AsteriskLayout,
    render_configs,
)

Mode = Literal["auto", "system", "chroot"]
REPO = Path(__file__).resolve().parents[1]
CHROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_MINIMAL_INDICATIONS = (
    "[general]\ncountry = ru\n\n[ru]\ndescription = Russian Federation\n"
    "ringcadence = 1000,4000\ndial = 425\nbusy = 425/350,0/350\nring = 425/1000,0/4000\n"
    "congestion = 425/175,0/175\ncallwaiting = 425/200,0/5000\n"
)


@dataclass(frozen=True)
class SandboxStatus:
    """What ``sandbox status`` reports."""

    running: bool
    pid: int | None
    version: str | None
    mode: str
    root: Path | None

    def __str__(self) -> str:
        state = f"up (pid {self.pid})" if self.running else "down"
        where = f"chroot {self.root}" if self.root else "system Asterisk"
        return f"sandbox {state}; {self.version or 'Asterisk version unknown'}; {where}"


SOUNDS_DIR = "/usr/share/asterisk/sounds"


def default_root() -> Path:
    """``$CLINIC_ROUTER_SANDBOX_DIR`` or ``<repo>/.cache/sandbox/root``."""
    env = os.environ.get("CLINIC_ROUTER_SANDBOX_DIR")
    return Path(env).resolve() if env else REPO / ".cache" / "sandbox" / "root"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Sandbox:
    """Build, start, reload, restart and stop the sandbox's Asterisk.

    All methods block; from async code wrap them in ``asyncio.to_thread``.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        mode: Mode | None = None,
        dialplan: Path | None = None,
        channelvars: Sequence[str] = ("DID",),
        progress: Callable[[str], None] = _stderr,
        instance: Instance | None = None,
    ) -> None:
        chosen = mode or os.environ.get("CLINIC_ROUTER_SANDBOX_MODE", "auto")
        if chosen not in ("auto", "system", "chroot"):
            raise SandboxError(f"unknown sandbox mode {chosen!r} (auto, system or chroot)")
        system_asterisk = shutil.which("asterisk")
        if chosen == "system" and system_asterisk is None:
            raise SandboxError("mode 'system' asked for, but no asterisk on PATH")
        self.mode: Literal["system", "chroot"] = (
            "system" if chosen == "system" or (chosen == "auto" and system_asterisk) else "chroot"
        )
        base_root = root.resolve() if root else default_root()
        # None: the product's generated dialplan (router/asterisk_config)
        self.dialplan = dialplan
        self.instance = instance or current()
        self.host = self.instance.host
        self.ari = AriAccess(host=self.host)
        self._progress = progress
        self._root_lock = base_root.with_name(f"{base_root.name}.lock")  # every instance's
        suffix = self.instance.suffix
        if self.mode == "chroot":
            self.root: Path | None = base_root
            self.state_dir = base_root.with_name(f"{base_root.name}.run{suffix}")
            default = AsteriskLayout()
            self.layout = AsteriskLayout(
                etc_dir=default.etc_dir + suffix,
                run_dir=default.run_dir + suffix,
                log_dir=default.log_dir + suffix,
                spool_dir=default.spool_dir + suffix,
                db_dir=default.db_dir + suffix,
                channelvars=tuple(channelvars),
            )
            self._asterisk = ["chroot", str(base_root), "asterisk"]
        else:
            self.root = None
            system = base_root.with_name(f"system{suffix}")
            self.state_dir = system / "run"
            self.layout = AsteriskLayout(
                etc_dir=str(system / "etc"),
                run_dir=str(system / "var/run"),
                log_dir=str(system / "var/log"),
                spool_dir=str(system / "var/spool"),
                db_dir=str(system / "var/lib"),
                moh_dir=_first_existing(["/usr/share/asterisk/moh", "/var/lib/asterisk/moh"]) or "",
                channelvars=tuple(channelvars),
            )
            self._asterisk = [str(system_asterisk)]

    # ---- public API ---------------------------------------------------------------------

    @property
    def ari_url(self) -> str:
        """ARI REST base URL (``http://127.0.0.1:8088/ari``)."""
        return self.ari.url

    @property
    def ari_access(self) -> AriAccess:
        """Host, port and credentials of ARI, for ``probe.ari_get`` or an ARI client."""
        return self.ari

    @property
    def ari_user(self) -> str:
        """ARI (and AMI) user name."""
        return self.ari.user

    @property
    def ari_password(self) -> str:
        """ARI (and AMI) password (sandbox only)."""
        return self.ari.password

    @property
    def log_file(self) -> Path:
        """Asterisk's own log (notice, warning, error, verbose 3, dtmf) on the host."""
        return self._host(self.layout.log_dir) / "messages.log"

    def build(self) -> None:
        """Build the chroot once (about 1 min); nothing to do for a system Asterisk.

        Under the root's lock, not the instance's: instances (and the stock-PBX tests,
        tests/asterisk/stock_root.py) starting together on a fresh checkout build it once.
        """
        if self.root is None or rootfs.is_complete(self.root):
            return
        with self._shared_root():  # build_root looks again: another may have built it
            rootfs.build_root(self.root, self.state_dir / "debootstrap.log", self._progress)

    def up(self, timeout: float = 60.0) -> None:
        """Start Asterisk (building the root first if needed) and wait until ARI is usable."""
        self.build()
        with self._shared_root():  # the prompts and the mounts are every instance's
            self.write_config()
            install_prompts(self.sounds_dir, self._progress)
            running = self.pid()
            pid = running if running is not None else self._start()
        deadline = time.monotonic() + timeout
        if running is not None:
            self._progress(f"sandbox already up (pid {pid}): config rewritten, core reload")
            self.cli("core reload")
            self._wait_ready(pid, deadline)
            return
        ready = False
        try:
            self._wait_ready(pid, deadline)
            ready = True
        finally:
            if not ready:  # never leave a half-started Asterisk or its mounts behind
                self.down()
        self._progress(f"sandbox up: {self.status()}")

    def down(self) -> None:
        """Stop Asterisk and unmount everything; leaves no process and no mount behind."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(SandboxError):  # the signals below finish the job
                self.cli("core stop now", timeout=5)
            if not wait_exit(pid, 10):
                terminate_group(pid)
        with self._shared_root():
            self._clear_leftovers()

    def status(self) -> SandboxStatus:
        """Whether Asterisk runs, its PID and version."""
        pid = self.pid()
        version = None
        if pid is not None:
            try:
                version = self.cli("core show version").strip() or None
            except SandboxError:
                version = None
        elif self.root is None or rootfs.is_complete(self.root):
            result = subprocess.run(
                [*self._asterisk, "-V"],
                capture_output=True,
                text=True,
                check=False,
                env=self._env(),
            )
            version = result.stdout.strip() or None
        return SandboxStatus(pid is not None, pid, version, self.mode, self.root)

    def restart_asterisk(self, timeout: float = 30.0) -> None:
        """``core restart now`` (every call is hung up) and wait until ARI is usable again."""
        pid = self.pid()
        if pid is None:
            raise SandboxError("sandbox is down: cannot restart Asterisk")
        before = self._startup_time()
        # the remote console may lose its connection while Asterisk goes down
        with contextlib.suppress(SandboxError):
            self.cli("core restart now", timeout=5)
        self._wait_ready(pid, time.monotonic() + timeout, restarted_from=before)

    def crash(self, timeout: float = 10.0) -> None:
        """``kill -9`` Asterisk (no BYE, no event: a crash) and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            raise SandboxError("sandbox is down: nothing to kill")
        os.kill(pid, signal.SIGKILL)
        if not wait_exit(pid, timeout):
            raise SandboxError(f"Asterisk (pid {pid}) still runs {timeout} s after SIGKILL")

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command (``asterisk -rx``) and return its output."""
        argv = [*self._asterisk, "-C", self._conf_path(), "-rx", command]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False, env=self._env()
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"asterisk -rx {command!r} timed out after {timeout} s") from exc
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise SandboxError(f"asterisk -rx {command!r} failed: {detail}")
        return result.stdout

    def hangup_all(self) -> None:
        """Hang up every channel (test hygiene: a killed SIPp never sends its BYE)."""
        self.cli("channel request hangup all")

    def pid(self) -> int | None:
        """PID of the sandbox's Asterisk when it runs, else None."""
        try:
            pid = int((self.state_dir / "asterisk.pid").read_text())
        except (OSError, ValueError):
            return None
        if alive(pid) and any("asterisk" in part for part in command_line(pid)[:1]):
            return pid
        return None

    def write_config(self) -> None:
        """(Re)write every config file, with the generated dialplan (or `dialplan`'s file)."""
        dialplan = None
        if self.dialplan is not None:
            try:
                dialplan = self.dialplan.read_text()
            except OSError as exc:
                raise SandboxError(f"cannot read the dialplan {self.dialplan}: {exc}") from exc
        for directory in self.layout.dirs:
            self._host(directory).mkdir(parents=True, exist_ok=True)
        files = render_configs(self.layout, self._indications(), dialplan, self.host)
        etc = self._host(self.layout.etc_dir)
        for name, text in files.items():
            tmp = etc / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(etc / name)

    def log_tail(self, lines: int = 25) -> str:
        """Last lines of Asterisk's log (or of its stdout when the log is still empty)."""
        for path in (self.log_file, self.state_dir / "asterisk.out"):
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            if text:
                return "\n".join(text[-lines:])
        return "(Asterisk wrote no log)"

    # ---- internals ----------------------------------------------------------------------

    def _host(self, path: str) -> Path:
        """A path as Asterisk sees it, translated to the host's view."""
        return self.root / path.lstrip("/") if self.root is not None else Path(path)

    def sounds_dir(self, lang: str) -> Path:
        """Asterisk's sounds folder for `lang`, as seen from here."""
        return self._host_resolved(f"{SOUNDS_DIR}/{lang}")

    def _host_resolved(self, path: str) -> Path:
        """`_host`, following symlinks as Asterisk would see them (absolute ones point
        inside the chroot: Debian links sounds/ru to /etc/alternatives/...)."""
        host = self._host(path)
        for _ in range(10):
            if not host.is_symlink():
                return host
            target = os.readlink(host)
            host = self._host(target) if target.startswith("/") else host.parent / target
        return host

    def _conf_path(self) -> str:
        return f"{self.layout.etc_dir}/asterisk.conf"

    @staticmethod
    def _env() -> dict[str, str]:
        return {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8"}

    def _indications(self) -> str:
        candidates = [
            "/etc/asterisk/indications.conf",
            "/usr/share/asterisk/conf/samples/indications.conf.sample",
            "/usr/share/doc/asterisk-config/examples/configs/samples/indications.conf.sample",
        ]
        found = _first_existing([str(self._host(c)) for c in candidates])
        return Path(found).read_text() if found else _MINIMAL_INDICATIONS

    @contextlib.contextmanager
    def _shared_root(self) -> Iterator[None]:
        """Held while this instance writes into the shared root (prompts), mounts or
        unmounts it: another instance never starts on a root being unmounted."""
        self._root_lock.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self._root_lock, "another sandbox instance"):
            yield

    def _check_ports(self, grace: float = 5.0) -> None:
        """Every port free, waiting up to ``grace`` s: a killed Asterisk's argv is gone
        (so ``pid`` no longer sees it) a moment before the kernel closes its sockets."""
        checks = (
            (socket.SOCK_DGRAM, SIP_PORT, "SIP/UDP"),
            (socket.SOCK_STREAM, HTTP_PORT, "ARI/HTTP"),
            (socket.SOCK_STREAM, AMI_PORT, "AMI"),
        )
        deadline = time.monotonic() + grace
        for kind, port, what in checks:
            while port_in_use(kind, self.host, port) and time.monotonic() < deadline:
                time.sleep(0.1)
            if port_in_use(kind, self.host, port):
                proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
                raise SandboxError(
                    f"{what} port {self.host}:{port}/{proto} is already in use (another Asterisk "
                    f"or SIP stack?); stop it first (see: ss -lnp{proto[0]} | grep {port})"
                )

    def _start(self) -> int:
        """What a previous run left goes, the root is mounted, Asterisk starts (the root
        lock held: another instance's ``down`` must not unmount it meanwhile)."""
        self._clear_leftovers()
        self._check_ports()
        if self.root is not None:
            rootfs.mount_binds(self.root)
        return self._spawn()

    def _spawn(self) -> int:
        """Start Asterisk in its own session, detached from us (no zombie, no Popen)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out = self.state_dir / "asterisk.out"
        for log in (out, self.log_file):  # a fresh log per start; keep the previous one
            if log.exists():
                log.replace(log.with_name(log.name + ".1"))
        argv = [*self._asterisk, "-f", "-C", self._conf_path()]
        # sh forks, setsid makes Asterisk a session and group leader, $! is its PID
        script = 'setsid "$@" </dev/null >>"$0" 2>&1 & echo $!'
        result = subprocess.run(
            ["sh", "-c", script, str(out), *argv],
            capture_output=True,
            text=True,
            check=True,
            env=self._env(),
        )
        pid = int(result.stdout.strip())
        (self.state_dir / "asterisk.pid").write_text(f"{pid}\n")
        self._progress(f"started Asterisk (pid {pid}), waiting for ARI")
        return pid

    def _wait_ready(self, pid: int, deadline: float, restarted_from: str | None = None) -> None:
        """Until the deadline: process alive, ARI ping OK, WebSocket accepted, fully booted."""
        last = "no answer yet"
        while True:
            if not alive(pid):
                raise SandboxError(
                    f"Asterisk exited while starting; last lines of "
                    f"{self.log_file}:\n{self.log_tail()}"
                )
            try:
                last = self._readiness(restarted_from)
                if not last:
                    self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                    return
            except (OSError, SandboxError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"ARI not ready in time ({last}); last lines of "
                    f"{self.log_file}:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def _readiness(self, restarted_from: str | None) -> str:
        """'' when ARI is ready, else why not."""
        status, body = ari_get(self.ari, "asterisk/ping")
        if status != 200:
            return f"GET /ari/asterisk/ping answered HTTP {status}: {body}"
        if restarted_from is not None and self._startup_time() == restarted_from:
            return "Asterisk has not restarted yet"
        if not websocket_accepted(self.ari):
            return "ARI still refuses WebSockets"
        return ""

    def _startup_time(self) -> str:
        status, body = ari_get(self.ari, "asterisk/info?only=status")
        if status != 200 or not isinstance(body, dict):
            raise SandboxError(f"GET /ari/asterisk/info answered HTTP {status}")
        return str(body.get("status", {}).get("startup_time", ""))

    def _clear_leftovers(self) -> None:
        """Kill what this instance left running in the chroot (its Asterisk, a CLI call);
        unmount the root once nothing else runs in it; forget the PID file."""
        if self.root is not None:
            conf = self._conf_path()
            for pid in rootfs.processes_in(self.root):
                if conf in command_line(pid):  # another instance's, or a test's own PBX
                    terminate_group(pid, grace=2.0)
            if not rootfs.processes_in(self.root):
                rootfs.unmount_all(self.root)
                left = list(rootfs.mounts_under(self.root))
                if left:
                    raise SandboxError(f"still mounted after unmount: {', '.join(map(str, left))}")
        (self.state_dir / "asterisk.pid").unlink(missing_ok=True)


def _first_existing(paths: Sequence[str]) -> str | None:
    return next((p for p in paths if Path(p).exists()), None)
