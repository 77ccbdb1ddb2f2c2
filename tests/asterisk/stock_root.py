"""A stock Debian Asterisk for the deploy kit's tests: an overlay on the sandbox's Debian
sid root (Asterisk 22, its own `/etc/asterisk` as the package ships it), in the test's
folder, running on the sandbox instance's spare address (127.0.0.2 for instance 0,
127.0.N.2 for instance N: sip_test_harness/instance.py) so that it never meets a
sandbox's ports, nor the stock PBX of a test session on another instance.

Whatever a test does to it (packages, users, config) stays in the overlay. The sounds
folder is the sandbox's, so the router's own prompts are there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from sip_test_harness import rootfs
from sip_test_harness.instance import current
from sip_test_harness.prompts import install_prompts
from sip_test_harness.router_process import REPO
from sip_test_harness.sandbox import CHROOT_PATH, SOUNDS_DIR, Sandbox

HOST = current().spare_host  # tests/asterisk/conftest.py has set the instance by now
SIP_PORT = 5160
HTTP_PORT = 18088
API_PORT = 18080
ARI_URL = f"http://{HOST}:{HTTP_PORT}/ari"
SRC = "/usr/src/clinic-router"  # where the admin unpacked the release
ETC = "/etc/clinic-router"
APT_CACHE = REPO / ".cache" / "stock-pbx" / "apt"
# pip's cache of root's pip in the roots: install.sh's downloads (the hashed lock, the
# build backend) fetched once per checkout, not once per install
PIP_CACHE = REPO / ".cache" / "stock-pbx" / "pip"
# Phone name in the harness -> the clinic's endpoint (harness phone op100N on port 5070+N)
PHONES = {"op1001": "101", "op1002": "102"}
SOURCE_SKIP = {".git", ".venv", ".cache", "var", "build", "__pycache__", ".pytest_cache"}

ADMIN_PJSIP = f"""
; ---- what the clinic's admin already has: a transport, the carrier, two phones ----
[transport-udp]
type = transport
protocol = udp
bind = {HOST}:{SIP_PORT}

[carrier]
type = endpoint
transport = transport-udp
context = clinic-router-inbound
allow = !all,ulaw,alaw
direct_media = no
media_address = {HOST}
trust_id_inbound = yes

[carrier]
type = identify
endpoint = carrier
match = {",".join(f"{HOST}:{port}" for port in range(5061, 5070))}
""" + "".join(
    f"""
[{ext}]
type = endpoint
transport = transport-udp
context = clinic-router-operators
allow = !all,ulaw,alaw
direct_media = no
media_address = {HOST}
aors = {ext}

[{ext}]
type = aor
contact = sip:{ext}@{HOST}:{5070 + int(phone[-1])}
qualify_frequency = 1
qualify_timeout = 1.0
"""
    for phone, ext in PHONES.items()
)


class DebianRoot:
    """An overlay on the sandbox's root, with /proc, /dev and the apt and pip caches bound
    in. `prompts`: speak the router's prompts into its Asterisk's sounds (a root without
    Asterisk, a router host, needs none: doctor asks the PBX's Asterisk for them)."""

    def __init__(self, lower: Path, workdir: Path, *, prompts: bool = True) -> None:
        self.lower = lower
        self.prompts = prompts
        self.upper = workdir / "upper"
        self.work = workdir / "work"
        self.path = workdir / "root"

    def mount(self) -> None:
        for folder in (self.upper, self.work, self.path, APT_CACHE, PIP_CACHE):
            folder.mkdir(parents=True, exist_ok=True)
        options = f"lowerdir={self.lower},upperdir={self.upper},workdir={self.work}"
        _sh(["mount", "-t", "overlay", "overlay", "-o", options, str(self.path)])
        for source, target in (("/proc", "proc"), ("/dev", "dev")):
            _sh(["mount", "--bind", source, str(self.path / target)])
        _sh(["mount", "--bind", str(APT_CACHE), str(self.path / "var/cache/apt/archives")])
        self.bind(PIP_CACHE, "/root/.cache/pip")
        # the router's own prompts, which the sandbox speaks into its root when it comes up:
        # here into the overlay, without waiting for (or writing into) the sandbox
        if self.prompts:
            install_prompts(self.sounds, lambda _line: None)

    def sounds(self, lang: str) -> Path:
        """Asterisk's sounds folder for `lang` in the root, its links followed there
        (Debian links sounds/ru to /etc/alternatives/...)."""
        path = f"{SOUNDS_DIR}/{lang}"
        for _ in range(10):
            host = self.file(path)
            if not host.is_symlink():
                break
            path = os.path.join(os.path.dirname(path), os.readlink(host))
        self.file(path).mkdir(parents=True, exist_ok=True)
        return self.file(path)

    def bind(self, source: Path, target: str) -> None:
        """`source` of this machine seen at `target` in the root (unmounted with it)."""
        self.file(target).mkdir(parents=True, exist_ok=True)
        _sh(["mount", "--bind", str(source), str(self.file(target))])

    @contextmanager
    def mounted(self) -> Iterator[DebianRoot]:
        """The root mounted for the block and unmounted however it ends: also when
        mounting stops half way (a failed mount; Ctrl-C while the prompts are spoken,
        which left the mounts behind when the fixtures mounted before their `try`)."""
        try:
            self.mount()
            yield self
        finally:
            self.unmount()

    def unmount(self) -> None:
        for pid in rootfs.processes_in(self.path):  # only what this test started in it
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        rootfs.unmount_all(self.path)

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def unpack_source(self) -> None:
        """The source folder as a release tarball would hold it (no venv, no caches)."""
        shutil.copytree(
            REPO,
            self.file(SRC),
            ignore=lambda _dir, names: [
                n for n in names if n in SOURCE_SKIP or n.endswith(".egg-info")
            ],
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        check: bool = True,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the root as root (or `user`), with a login-like environment."""
        prefix = ["chroot", f"--userspec={user}:{user}"] if user else ["chroot"]
        base = {"PATH": f"/usr/local/bin:{CHROOT_PATH}", "HOME": "/root", "LANG": "C.UTF-8"}
        done = subprocess.run(
            [*prefix, str(self.path), *argv],
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def install(self) -> str:
        """`deploy/install.sh` as root. This machine reaches PyPI through a proxy with its
        own certificate authority: pip in the root is given the host's trust store."""
        ca = self.file("/etc/ssl/host-ca.crt")
        ca.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"), ca)
        env = {"PIP_CERT": "/etc/ssl/host-ca.crt", "DEBIAN_FRONTEND": "noninteractive"}
        done = self.run(["sh", f"{SRC}/deploy/install.sh"], env=env)
        return done.stdout + done.stderr

    def unpack_and_install(self) -> str:
        self.unpack_source()
        return self.install()

    def id_of(self, name: str, table: str = "passwd") -> int:
        """The id of a user (or, with table="group", a group) of the root, from its files."""
        for line in self.file(f"/etc/{table}").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2])
        raise AssertionError(f"no {table} entry {name} in the root")


def _sh(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"


class StockPbx:
    """The root's stock Asterisk (default paths, /etc/asterisk), started by the test."""

    def __init__(self, root: DebianRoot, log: Path) -> None:
        self.root = root
        self.etc = root.file("/etc/asterisk")
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def admin_edits(self) -> None:
        """What the clinic's admin had before the kit: phones, trunk; AMI off 127.0.0.1
        (onto HOST)."""
        manager = self.etc / "manager.conf"
        manager.write_text(manager.read_text().replace("127.0.0.1", HOST))
        with (self.etc / "pjsip.conf").open("a") as pjsip:
            pjsip.write(ADMIN_PJSIP)

    def cli(self, command: str) -> str | None:
        done = self.root.run(["asterisk", "-rx", command], check=False, timeout=15)
        return done.stdout if done.returncode == 0 else None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - kept to stop it
                ["chroot", str(self.root.path), "asterisk", "-f"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8"},
            )
        deadline = time.monotonic() + 60
        while (await asyncio.to_thread(self.cli, "core waitfullybooted")) is None:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the stock Asterisk did not boot in 60 s"
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.cli("core stop now")
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def sandbox_root() -> Path:
    """The sandbox's Debian root, built (under the root's own lock) if it is not yet.

    Only the root's files are used, as an overlay's lower layer: the stock PBX is an
    Asterisk of its own on HOST, with its own phones there, and never meets the
    shared sandbox Asterisk, so its tests do not wait for the sandbox lock (which a
    test of test_doctor.py holds already, through the session's sandbox).
    """
    box = Sandbox(mode="chroot")
    assert box.root is not None
    box.build()
    return box.root


@pytest.fixture(name="debian_root")
def debian_root_fixture(tmp_path: Path) -> Iterator[DebianRoot]:
    with DebianRoot(sandbox_root(), tmp_path).mounted() as root:
        yield root


# A minimal Debian server: systemd and procps as every server has, no Python venv
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=passwd,systemd,procps"]


# The router host's release: Debian 13 (trixie) and Debian 12 (bookworm).
RELEASES = {"debian-13": "trixie", "debian-12": "bookworm"}


def prepare_release_root(release: str) -> None:
    """Build the root of `release` (a key of RELEASES) before the test's timer starts
    (tests/asterisk/conftest.py): a fresh clone's debootstrap is a cache build, not the
    test. A failure is left to the fixture, which builds again and says why."""
    try:
        debian_release_root(RELEASES[release])
    except (AssertionError, OSError, subprocess.SubprocessError):
        pass


def debian_release_root(suite: str) -> Path:
    """A Debian release (``trixie`` = 13, ``bookworm`` = 12), built once with debootstrap
    into .cache/<suite> (about 1 min)."""
    root = REPO / ".cache" / suite / "root"
    if (root / "usr/bin/apt-get").exists():
        return root
    partial = root.with_name("root.partial")
    rootfs.unmount_all(partial)  # debootstrap mounts proc inside; a failed run may leave it
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*DEBOOTSTRAP, suite, str(partial), "http://deb.debian.org/debian"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    partial.rename(root)
    return root
