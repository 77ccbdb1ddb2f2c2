"""The acceptance test of the deploy kit (issue 15): the README's commands, as root, on a
Debian root with a stock Asterisk (its own `/etc/asterisk` as the `asterisk-config`
package ships it), operators named like a clinic's (`PJSIP/101`, `PJSIP/102`).

The root is an overlay on the sandbox's Debian sid root (Asterisk 22 installed, no
Python): whatever the test does stays in the overlay, in the test's folder. In it, as an
admin would: `deploy/install.sh` from an unpacked source folder (it installs
python3-venv with apt, creates the `clinic-router` user, the venv in /opt from the
hashed lock, /etc/clinic-router, /var/lib/clinic-router, the systemd unit), the admin's
edits (rules with the clinic's phones; ARI and API on the sandbox instance's spare
address, 127.0.0.2 for instance 0, so as never to meet the sandbox's ports),
`clinic-router asterisk-config --apply /etc/asterisk` into the running stock Asterisk,
`clinic-router doctor`; the router started the way its unit says (ExecStartPre,
ExecStart, User, EnvironmentFile, WorkingDirectory: a chroot has no systemd; the unit
itself passes `systemd-analyze verify`); a routed call, and with the router stopped a
fallback call, answered by the clinic's phones; install.sh again (an upgrade: edits and
secrets kept, the restarted router's database at the newest migration, the earlier calls
still there); uninstall (data kept), then --purge.

Only what an admin of such a PBX already has is added by hand: systemd and procps (the
unit's /bin/kill; a minimal debootstrap root has neither), a SIP transport, the carrier
trunk and the two phones in pjsip.conf, and the AMI moved off the sandbox's 127.0.0.1.
The apt packages are cached in .cache/stock-pbx/apt (about 30 MB) and pip's downloads in
.cache/stock-pbx/pip, the Debian 13 and 12 roots in .cache/trixie and .cache/bookworm
(about 250 MB each, built once in about a minute); the router's own prompts are spoken
into the overlay when the sandbox's root lacks them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from router.ari.connection import basic_auth_header
from router.storage.migrate import head_revision
from sip_test_harness import rootfs
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import CHROOT_PATH
from sip_test_harness.sipp import Behaviour, CallResult, Phones, place_call
from tests.asterisk import stock_root
from tests.asterisk.stock_root import (
    API_PORT,
    ARI_URL,
    ETC,
    HOST,
    PHONES,
    RELEASES,
    SIP_PORT,
    SRC,
    DebianRoot,
    StockPbx,
    debian_release_root,
    debian_root_fixture,
)

pytestmark = pytest.mark.asterisk
debian_root = debian_root_fixture
PBX_RELOADS = (
    "module reload http",
    "module reload res_ari.so",
    "dialplan reload",
    "module load app_queue.so",
    "module reload app_queue.so",
)


class UnitRouter(RouterProcess):
    """The installed router, started as its systemd unit says, in the root."""

    def __init__(self, root: DebianRoot, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = root
        self.port = API_PORT
        self.unit = _unit(root.file("/etc/systemd/system/clinic-router.service").read_text())
        self.secrets = _env_file(root.file(self.unit["EnvironmentFile"]).read_text())

    def _as_unit(self, command: str) -> list[str]:
        user = self.unit["User"]
        assert self.unit["Group"] == user
        script = f'cd {self.unit["WorkingDirectory"]} && exec "$@"'
        return [
            "chroot",
            f"--userspec={user}:{user}",
            str(self.root.path),
            "env",
            "-i",
            f"PATH={CHROOT_PATH}",
            "LANG=C.UTF-8",
            *(f"{k}={v}" for k, v in self.secrets.items()),
            "sh",
            "-c",
            script,
            "sh",
            *command.split(),
        ]

    async def start(self, wait_connected: bool = True) -> None:
        pre = await asyncio.to_thread(
            subprocess.run,
            self._as_unit(self.unit["ExecStartPre"]),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert pre.returncode == 0, pre.stdout + pre.stderr
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - we need the Popen to signal it
                self._as_unit(self.unit["ExecStart"]), stdout=log, stderr=subprocess.STDOUT
            )
        if wait_connected:
            await self.wait_health(lambda h: h.get("ari_connected") is True, 30)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.secrets['CLINIC_ROUTER_API_TOKEN']}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                f"http://{HOST}:{API_PORT}{path}",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp,
        ):
            return resp.status, await resp.json(content_type=None)


def _unit(text: str) -> dict[str, str]:
    """The [Service] keys of a unit file (one value each; what this unit has)."""
    service = text.split("[Service]", 1)[1].split("\n[", 1)[0]
    return dict(
        line.split("=", 1) for line in service.splitlines() if "=" in line and line[0] != "#"
    )


def _env_file(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")


def clinic_rules() -> str:
    lines = ["format: 1", "skills:", "  paid: Paid services", "operators:"]
    for ext in PHONES.values():
        lines += [
            f"  - id: op-{ext}",
            f"    name: Operator {ext}",
            f"    endpoint: PJSIP/{ext}",
            "    skills: {paid: 3}",
        ]
    return "\n".join(lines) + "\n"


def admin_edits_settings(root: DebianRoot) -> None:
    """The admin's edits of the installed examples: the clinic's phones; ARI and the API
    on HOST, the instance's spare address (127.0.0.1:8088/8080 belong to the sandbox)."""
    root.file(f"{ETC}/rules.yaml").write_text(clinic_rules())
    settings = root.file(f"{ETC}/router.yaml")
    text = settings.read_text().replace("http://127.0.0.1:8088/ari", ARI_URL)
    text, count = re.subn(
        r"^  host: 127\.0\.0\.1\n  port: 8080$",
        f"  host: {HOST}\n  port: {API_PORT}",
        text,
        flags=re.M,
    )
    assert count == 1, text
    settings.write_text(text)


def assert_installed(root: DebianRoot, out: str) -> None:
    assert "installing python3-venv" in out  # the root had no Python: apt brought it
    uid = root.id_of("clinic-router")
    assert root.run(["id", "-un", str(uid)]).stdout.strip() == "clinic-router"
    env = root.file(f"{ETC}/clinic-router.env").stat()
    gid = root.id_of("clinic-router", "group")
    assert (env.st_uid, env.st_gid, env.st_mode & 0o777) == (0, gid, 0o640)
    var = root.file("/var/lib/clinic-router").stat()
    assert (var.st_uid, var.st_gid, var.st_mode & 0o777) == (uid, gid, 0o750)
    assert (
        os.readlink(root.file("/usr/local/bin/clinic-router"))
        == "/opt/clinic-router/bin/clinic-router"
    )
    assert (
        "sqlite+aiosqlite:////var/lib/clinic-router/router.db"
        in root.file(f"{ETC}/router.yaml").read_text()
    )


def assert_unit_verifies(root: DebianRoot) -> None:
    """`systemd-analyze verify` of the unit: the root's systemd, and this host's (Debian
    12's systemd 252) on the root's files, when it has one."""
    unit = "/etc/systemd/system/clinic-router.service"
    done = root.run(["systemd-analyze", "verify", unit], check=False)
    said = done.stdout + done.stderr
    assert done.returncode == 0 and "clinic-router.service" not in said, said
    if shutil.which("systemd-analyze"):
        host = subprocess.run(
            ["systemd-analyze", "verify", f"--root={root.path}", unit],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        said = host.stdout + host.stderr
        assert host.returncode == 0 and "clinic-router.service" not in said, said


async def call_the_clinic(caller: str) -> CallResult:
    """A carrier's call to the clinic's number; the caller hangs up 2 s after the answer."""
    return await place_call(
        caller,
        "4951230000",
        hangup_after=2,
        timeout=40,
        target=f"{HOST}:{SIP_PORT}",
        local_ip=HOST,
    )


async def ari_up(password: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    headers = {"Authorization": basic_auth_header("clinic-router", password)}
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{ARI_URL}/asterisk/ping", headers=headers) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "ARI of the stock PBX did not come up"
            await asyncio.sleep(0.2)


async def doctor_until_clean(root: DebianRoot, deadline_s: float) -> str:
    """`clinic-router doctor` as root until nothing fails (the phones come online with
    their first qualify)."""
    deadline = time.monotonic() + deadline_s
    while True:
        done = await asyncio.to_thread(root.run, ["clinic-router", "doctor"], check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            return done.stdout + done.stderr
        await asyncio.sleep(0.5)


@pytest.mark.timeout(600)  # apt and pip downloads: about 3 min the first time here
async def test_install_kit_on_a_stock_pbx_from_zero_to_calls_upgrade_and_uninstall(
    debian_root: DebianRoot, tmp_path: Path
) -> None:
    root = debian_root
    # the admin's machine has systemd (and procps' /bin/kill); a debootstrap root has not
    root.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd", "procps"],
        env={"DEBIAN_FRONTEND": "noninteractive"},
    )
    root.unpack_source()
    out = await asyncio.to_thread(root.install)
    assert_installed(root, out)
    assert_unit_verifies(root)
    admin_edits_settings(root)

    pbx = StockPbx(root, tmp_path / "stock-asterisk.out")
    pbx.admin_edits()
    router = UnitRouter(root, tmp_path)
    password = router.secrets["CLINIC_ROUTER_ARI_PASSWORD"]
    try:
        await pbx.start()
        assert "Server Enabled" not in (pbx.cli("http show status") or "")  # stock: HTTP off
        before = root.run(["clinic-router", "doctor"], check=False)
        assert before.returncode == 1 and "nothing answers" in before.stdout, before.stdout
        assert "http.conf [general]: enabled = yes" in before.stdout

        applied = root.run(["clinic-router", "asterisk-config", "--apply", "/etc/asterisk"])
        assert password not in applied.stdout + applied.stderr
        assert "asterisk -rx 'dialplan reload': ok" in applied.stdout, applied.stdout
        await ari_up(password, 20)  # HTTP and ARI enabled by the reloads alone

        phones_spec = {name: Behaviour("answer", hold=30) for name in PHONES}
        async with Phones(phones_spec, local_ip=HOST, use_ari=False) as phones:
            report = await doctor_until_clean(root, 20)
            assert report.rstrip().endswith("0 failed"), report
            assert password not in report

            await router.start()
            try:
                routed = await call_the_clinic("79990001501")
                assert routed.ok, routed.describe()
                [call] = await router.wait_calls(1, timeout=20)
                assert call["outcome"] == "answered"
                assert call["operator_id"] in {"op-101", "op-102"}
            finally:
                await router.stop()

            answered_before = sum(r.answered for r in phones.report().values())
            fallback = await call_the_clinic("79990001502")
            assert fallback.ok, fallback.describe()
            assert sum(r.answered for r in phones.report().values()) == answered_before + 1
        shown = pbx.cli("database show") or ""
        assert "clinic-router-missed" not in shown
        served = [ln for ln in shown.splitlines() if ln.startswith("/clinic-router-served/")]
        assert len(served) == 1 and re.search(r":79990001502:10[12]\s*:", served[0]), served

        # upgrade: install.sh again keeps the edits and secrets; the restarted router
        # migrates its database and journals the fallback call it did not see
        rules_before = root.file(f"{ETC}/rules.yaml").read_text()
        env_before = root.file(f"{ETC}/clinic-router.env").read_text()
        again = await asyncio.to_thread(root.install)
        assert "writing" not in again and "installing python3-venv" not in again, again
        assert root.file(f"{ETC}/rules.yaml").read_text() == rules_before
        assert root.file(f"{ETC}/clinic-router.env").read_text() == env_before
        await router.start()
        try:
            calls = await router.wait_calls(2, timeout=90)  # served records: every minute
        finally:
            await router.stop()
        assert {c["outcome"] for c in calls} == {"answered"}
        db = root.file("/var/lib/clinic-router/router.db")
        with sqlite3.connect(db) as conn:
            [(version,)] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert version == head_revision()
    finally:
        await router.stop()
        pbx.stop()

    out = root.run(["sh", f"{SRC}/deploy/uninstall.sh"]).stdout
    assert "kept" in out
    assert not root.file("/opt/clinic-router").exists()
    assert not root.file("/usr/local/bin/clinic-router").is_symlink()
    assert not root.file("/etc/systemd/system/clinic-router.service").exists()
    assert root.file(f"{ETC}/clinic-router.env").read_text() == env_before
    assert db.is_file()
    root.run(["sh", f"{SRC}/deploy/uninstall.sh", "--purge"])
    assert not root.file(ETC).exists() and not root.file("/var/lib/clinic-router").exists()
    assert root.run(["id", "clinic-router"], check=False).returncode != 0


@pytest.fixture(params=list(RELEASES))
def router_host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DebianRoot]:
    lower = debian_release_root(RELEASES[request.param])
    # no Asterisk there, so no prompts (about 50 espeak runs each, 1-4 s of its setup)
    with DebianRoot(lower, tmp_path / "router-host", prompts=False).mounted() as root:
        yield root


@pytest.mark.timeout(600)
async def test_a_router_on_another_host(
    debian_root: DebianRoot, router_host: DebianRoot, tmp_path: Path
) -> None:
    """install.sh on a Debian 13 or 12 host without Asterisk; the Asterisk side written
    from there into the PBX's folder (as if copied over) and reloaded on the PBX; doctor
    from the router host (music on hold: skipped, no CLI there); a routed call."""
    host = router_host
    out = await asyncio.to_thread(host.unpack_and_install)
    assert "installing python3-venv" in out  # a minimal Debian: apt brings the venv module
    assert not host.file("/usr/sbin/asterisk").exists()
    admin_edits_settings(host)
    pbx = StockPbx(debian_root, tmp_path / "stock-asterisk.out")
    pbx.admin_edits()
    host.bind(pbx.etc, "/mnt/pbx-asterisk")
    router = UnitRouter(host, tmp_path)
    try:
        await pbx.start()
        host.run(
            ["clinic-router", "asterisk-config", "--apply", "/mnt/pbx-asterisk", "--no-reload"]
        )
        for command in PBX_RELOADS:  # on the PBX, what --apply would have run there
            assert pbx.cli(command) is not None, command
        await ari_up(router.secrets["CLINIC_ROUTER_ARI_PASSWORD"], 20)
        phones_spec = {name: Behaviour("answer", hold=30) for name in PHONES}
        async with Phones(phones_spec, local_ip=HOST, use_ari=False):
            report = await doctor_until_clean(host, 20)
            assert report.rstrip().endswith("0 failed, 1 skipped"), report
            assert "skip music on hold class 'default'" in report
            await router.start()
            routed = await call_the_clinic("79990001503")
            assert routed.ok, routed.describe()
            [call] = await router.wait_calls(1, timeout=20)
            assert call["outcome"] == "answered" and call["operator_id"] in {"op-101", "op-102"}
    finally:
        await router.stop()
        pbx.stop()


def test_ctrl_c_while_a_root_is_mounted_leaves_no_mount_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the fixtures' setup, while the prompts are spoken into a root whose
    overlay and binds are mounted: what was mounted is unmounted."""
    lower = tmp_path / "lower"
    for folder in ("proc", "dev", "var/cache/apt/archives"):
        (lower / folder).mkdir(parents=True)
    root = DebianRoot(lower, tmp_path / "overlay")
    mounted_then: list[Path] = []

    def interrupted(*_args: object) -> None:
        mounted_then.extend(rootfs.mounts_under(root.path))
        raise KeyboardInterrupt

    monkeypatch.setattr(stock_root, "install_prompts", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt), root.mounted():
            pytest.fail("the block ran despite the interrupt")
        left = list(rootfs.mounts_under(root.path))
    finally:
        rootfs.unmount_all(root.path)  # what a failing run left
    assert len(mounted_then) == 5  # the overlay, /proc, /dev, the apt and pip caches
    assert left == []
