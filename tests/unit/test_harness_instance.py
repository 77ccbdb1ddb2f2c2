"""Sandbox instances: instance 0 is the sandbox as it always was; instance N differs by
its loopback address, lock and folders only (sip_test_harness/instance.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sip_test_harness.errors import SandboxError
from sip_test_harness.instance import ENV, LOCK_ENV, Instance, current, for_xdist_worker
from sip_test_harness.load import cli as load_cli
from sip_test_harness.probe import AriAccess
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import AsteriskLayout, render_configs
from sip_test_harness.sipp_process import SippRun


def test_instance_zero_is_the_sandbox_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(LOCK_ENV, raising=False)
    zero = current()
    assert zero == Instance(0)
    assert zero.host == "127.0.0.1" and zero.spare_host == "127.0.0.2"
    assert zero.lock_path == Path("/tmp/clinic-router-sandbox.lock")
    assert zero.suffix == ""


def test_instance_n_has_its_own_address_lock_and_folders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV, "2")
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "box.lock"))
    two = current()
    assert (two.host, two.spare_host) == ("127.0.2.1", "127.0.2.2")
    assert two.lock_path == tmp_path / "box-2.lock"
    box = Sandbox(tmp_path / "root", mode="chroot")
    assert box.instance == two and box.ari_access.host == "127.0.2.1"
    assert box.state_dir == tmp_path / "root.run-2"
    assert box.layout.etc_dir == "/etc/asterisk.clinic-2"
    assert box.layout.db_dir == "/var/lib/asterisk.clinic-2"  # AstDB of its own
    # every default of the harness follows the instance
    assert AriAccess().host == "127.0.2.1"
    assert SippRun("p", tmp_path / "s.xml", 5071, tmp_path, 1, 10).local_ip == "127.0.2.1"
    router = RouterProcess(tmp_path)
    assert "url: http://127.0.2.1:8088/ari" in router.config.read_text()


def test_a_bad_instance_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "two")
    with pytest.raises(SandboxError, match="not a number"):
        current()
    with pytest.raises(SandboxError, match=r"not in 0\.\.63"):
        Instance(64)


def test_xdist_worker_n_takes_instance_n() -> None:
    assert for_xdist_worker("gw0") == 0 and for_xdist_worker("gw1") == 1
    assert for_xdist_worker(None) is None and for_xdist_worker("master") is None


def test_config_of_an_instance_listens_on_its_address_only() -> None:
    files = render_configs(AsteriskLayout(), "", host="127.0.1.1")
    everything = "\n".join(files.values())
    assert "127.0.0.1:" not in everything.replace("agi://127.0.0.1:", "")
    assert "bind = 127.0.1.1:5060" in files["pjsip.conf"]
    assert "match = 127.0.1.1:5071" in files["pjsip.conf"]
    assert "media_address = 127.0.1.1" in files["pjsip.conf"]
    assert "bindaddr = 127.0.1.1" in files["manager.conf"]
    assert "bindaddr = 127.0.1.1" in files["clinic-router-http.conf"]


def test_the_load_command_aims_at_the_instance_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    load_cli.add_arguments(parser)
    monkeypatch.setenv(ENV, "6")
    plain = parser.parse_args(["--rate", "1", "--calls", "1"])
    assert load_cli.where(plain) == (True, "127.0.6.1:5060", "127.0.6.1")
    named = parser.parse_args(["--rate", "1", "--calls", "1", "--target", "127.0.6.1:5060"])
    assert load_cli.where(named) == (True, "127.0.6.1:5060", "127.0.6.1")
    staging = parser.parse_args(["--rate", "1", "--calls", "1", "--target", "pbx:5060"])
    assert load_cli.where(staging) == (False, "pbx:5060", "127.0.0.1")
    monkeypatch.delenv(ENV)
    assert load_cli.where(plain) == (True, "127.0.0.1:5060", "127.0.0.1")
