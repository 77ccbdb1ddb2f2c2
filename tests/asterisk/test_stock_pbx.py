"""The acceptance test of the deploy kit (issue 15): a stock Debian Asterisk, its own
`/etc/asterisk` as the `asterisk-config` package ships it, operators named like a clinic's
(`PJSIP/101`, `PJSIP/102`), not like the sandbox's.

Only what an admin of such a PBX already has is added by hand: a SIP transport, the
carrier trunk and the two phones in pjsip.conf. Everything clinic-router needs comes
from `clinic-router asterisk-config --apply` (with its reloads into the running Asterisk)
and is checked by `doctor`; then a routed call, and with the router stopped a fallback
call, are answered by the clinic's phones.

It runs a second Asterisk in the sandbox's Debian root, while this session holds the
sandbox lock, on 127.0.0.2 (SIP 5160, HTTP 18088) so it never meets the sandbox's ports;
its AMI is moved to 127.0.0.2 for the same reason. The root's sounds folder is shared
with the sandbox, so the router's prompts are there already (in a clinic:
`clinic-router prompts generate` or their recordings; tests/unit/test_doctor_checks.py).
The install itself is tested by tests/deploy/test_install_script.py; here the router runs
from the checkout's virtualenv.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from router.ari.connection import basic_auth_header
from router.config.rules import load_rules
from router.config.settings import load_settings
from router.doctor.probe import DoctorTarget, run_checks
from sip_test_harness.router_process import REPO, RouterProcess
from sip_test_harness.sandbox import CHROOT_PATH, Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

HOST = "127.0.0.2"
SIP_PORT = 5160
HTTP_PORT = 18088
ETC = "/etc/asterisk.stocktest"  # inside the root: a fresh copy of the stock /etc/asterisk
STATE = "/var/lib/asterisk.stocktest"
PASSWORD = "Stock-Pbx-Test-Secret-7f3a"
ARI_URL = f"http://{HOST}:{HTTP_PORT}/ari"
# Phone name in the harness -> the clinic's endpoint (harness phone op100N on port 5070+N)
PHONES = {"op1001": "101", "op1002": "102"}

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


class StockPbx:
    """A stock-config Asterisk in the sandbox's root, started and stopped by the test."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.root = root
        self.etc = root / ETC.lstrip("/")
        self.state = root / STATE.lstrip("/")
        self.log = workdir / "stock-asterisk.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cli_prefix = f"chroot {root} asterisk -C {ETC}/asterisk.conf"

    def prepare(self) -> None:
        stock = self.root / "etc/asterisk"
        assert (stock / "asterisk.conf").is_file(), "the root has no stock /etc/asterisk"
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.copytree(stock, self.etc, symlinks=True)
        # A second Asterisk in this root: its own folders (only [directories] changes)
        conf = (self.etc / "asterisk.conf").read_text()
        # the stock file ships the section as a template, "(!): remove to enable"
        conf = conf.replace("[directories](!)", "[directories]")
        for key, path in {
            "astetcdir": ETC,
            "astdbdir": STATE,
            "astspooldir": f"{STATE}/spool",
            "astrundir": f"{STATE}/run",
            "astlogdir": f"{STATE}/log",
        }.items():
            conf, count = re.subn(rf"^{key} => .*$", f"{key} => {path}", conf, flags=re.M)
            assert count == 1, key
        (self.etc / "asterisk.conf").write_text(conf)
        for sub in ("spool", "run", "log"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        manager = (self.etc / "manager.conf").read_text()
        (self.etc / "manager.conf").write_text(manager.replace("127.0.0.1", HOST))
        with (self.etc / "pjsip.conf").open("a") as pjsip:
            pjsip.write(ADMIN_PJSIP)

    def cli(self, command: str) -> str | None:
        done = subprocess.run(
            [*self.cli_prefix.split(), "-rx", command],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
            env={"PATH": CHROOT_PATH},
        )
        return done.stdout if done.returncode == 0 else None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - kept to stop it
                ["chroot", str(self.root), "asterisk", "-f", "-C", f"{ETC}/asterisk.conf"],
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

    def cleanup(self) -> None:
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)


class StockRouter(RouterProcess):
    """The router pointed at the stock PBX with its own ARI password."""

    def __init__(self, workdir: Path, rules: Path) -> None:
        super().__init__(workdir, rules=rules, ring_timeout_s=10)
        text = self.config.read_text().replace("http://127.0.0.1:8088/ari", ARI_URL)
        self.config.write_text(text)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "CLINIC_ROUTER_ARI_PASSWORD": PASSWORD}


@pytest.fixture
def stock_pbx(sandbox: Sandbox, tmp_path: Path) -> Iterator[StockPbx]:
    assert sandbox.root is not None, "needs the sandbox's Debian root (chroot mode)"
    pbx = StockPbx(sandbox.root, tmp_path)
    pbx.prepare()
    try:
        yield pbx
    finally:
        pbx.stop()
        pbx.cleanup()


def write_clinic_rules(folder: Path) -> Path:
    lines = ["skills:", "  paid: Paid services", "operators:"]
    for ext in PHONES.values():
        lines += [
            f"  - id: op-{ext}",
            f"    name: Operator {ext}",
            f"    endpoint: PJSIP/{ext}",
            "    skills: {paid: 3}",
        ]
    path = folder / "rules.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def ari_up(deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                headers = {"Authorization": basic_auth_header("clinic-router", PASSWORD)}
                async with session.get(f"{ARI_URL}/asterisk/ping", headers=headers) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "ARI of the stock PBX did not come up"
            await asyncio.sleep(0.2)


async def test_stock_pbx_from_zero_to_routed_and_fallback_calls(
    stock_pbx: StockPbx, tmp_path: Path
) -> None:
    await stock_pbx.start()
    assert stock_pbx.cli("http show status") is not None
    assert "Server Enabled" not in (stock_pbx.cli("http show status") or "")  # stock: off

    router = StockRouter(tmp_path, write_clinic_rules(tmp_path))
    settings = load_settings(
        router.config, env={"CLINIC_ROUTER_ARI_PASSWORD": PASSWORD}, secrets=False
    )
    target = DoctorTarget(settings, load_rules(settings.routing.rules))
    async with aiohttp.ClientSession() as session:  # before the kit: doctor says what to do
        [before] = await run_checks(target, session, stock_pbx.cli)
    assert before.status == "fail" and "nothing answers" in before.detail
    assert "http.conf [general]: enabled = yes" in before.fix
    env_file = tmp_path / "clinic-router.env"
    env_file.write_text(f"CLINIC_ROUTER_ARI_PASSWORD={PASSWORD}\n")
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "router",
            "asterisk-config",
            "--config",
            str(router.config),
            "--env-file",
            str(env_file),
            "--apply",
            str(stock_pbx.etc),
            "--asterisk",
            stock_pbx.cli_prefix,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "asterisk -rx 'dialplan reload': ok" in done.stdout
    await ari_up(20)  # HTTP and ARI enabled by the reloads alone, no restart

    phones_spec = {name: Behaviour("answer", hold=30) for name in PHONES}
    async with Phones(phones_spec, local_ip=HOST, use_ari=False) as phones:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:  # the phones come online with their first qualify
                findings = await run_checks(target, session, stock_pbx.cli)
                states = [f for f in findings if f.check.startswith("operator ")]
                if all(f.status == "ok" for f in states) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        failed = [f for f in findings if f.status != "ok"]
        assert failed == [], failed
        assert len(states) == 2

        await router.start()
        try:
            routed = await place_call(
                "79990001501",
                "4951230000",
                hangup_after=2,
                timeout=40,
                target=f"{HOST}:{SIP_PORT}",
                local_ip=HOST,
            )
            assert routed.ok, routed.describe()
            [call] = await router.wait_calls(1, timeout=20)
            assert call["outcome"] == "answered"
            assert call["operator_id"] in {"op-101", "op-102"}
        finally:
            await router.stop()

        answered_before = sum(r.answered for r in phones.report().values())
        fallback = await place_call(
            "79990001502",
            "4951230000",
            hangup_after=2,
            timeout=40,
            target=f"{HOST}:{SIP_PORT}",
            local_ip=HOST,
        )
        assert fallback.ok, fallback.describe()
        assert sum(r.answered for r in phones.report().values()) == answered_before + 1
    # answered in the fallback: no missed-call record, but the served one the router
    # journals when it connects next (the clinic's endpoint name in it)
    shown = stock_pbx.cli("database show") or ""
    assert "clinic-router-missed" not in shown
    served = [ln for ln in shown.splitlines() if ln.startswith("/clinic-router-served/")]
    assert len(served) == 1 and re.search(r":79990001502:10[12]\s*:", served[0]), served
