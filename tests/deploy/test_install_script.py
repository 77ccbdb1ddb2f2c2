"""deploy/install.sh and uninstall.sh, staged into a temporary root (DESTDIR): the
virtualenv from the lock runs, the config lands where the unit expects it, secrets are
private and kept on upgrade, an admin's edits survive, uninstall keeps data unless
--purge. (The user, systemd and Asterisk parts need a real root: see docs/deploy.md.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(script: str, root: Path, *args: str) -> str:
    done = subprocess.run(
        ["sh", str(REPO / "deploy" / script), *args],
        env={**os.environ, "DESTDIR": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_install_upgrade_and_uninstall(tmp_path: Path) -> None:
    root = tmp_path / "root"
    run("install.sh", root)
    etc, opt, var = root / "etc/clinic-router", root / "opt/clinic-router", root / "var/lib"
    version = subprocess.run(
        [str(opt / "bin/clinic-router"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("clinic-router ")
    settings = (etc / "router.yaml").read_text()
    assert "url: sqlite+aiosqlite:////var/lib/clinic-router/router.db" in settings
    assert (var / "clinic-router").is_dir()
    env = etc / "clinic-router.env"
    assert env.stat().st_mode & 0o077 == 0
    secrets = dict(
        line.split("=", 1) for line in env.read_text().splitlines() if not line.startswith("#")
    )
    assert set(secrets) == {"CLINIC_ROUTER_ARI_PASSWORD", "CLINIC_ROUTER_API_TOKEN"}
    assert all(len(value) >= 24 for value in secrets.values())
    unit = (root / "etc/systemd/system/clinic-router.service").read_text()
    for line in (
        "EnvironmentFile=/etc/clinic-router/clinic-router.env",
        "ExecStart=/opt/clinic-router/bin/clinic-router run"
        " --config /etc/clinic-router/router.yaml",
        "User=clinic-router",
        "ReadWritePaths=/var/lib/clinic-router",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert line in unit.splitlines(), line
    # the staged settings pass `check` with the installed secrets
    check = subprocess.run(
        [str(opt / "bin/clinic-router"), "check", str(etc / "router.yaml")],
        env={**os.environ, **secrets},
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # upgrade: run again; the admin's edit and the secrets stay
    (etc / "rules.yaml").write_text((etc / "rules.yaml").read_text() + "# edited by the admin\n")
    before = env.read_text()
    run("install.sh", root)
    assert (etc / "rules.yaml").read_text().endswith("# edited by the admin\n")
    assert env.read_text() == before

    out = run("uninstall.sh", root)
    assert not opt.exists() and not (root / "etc/systemd/system/clinic-router.service").exists()
    assert (etc / "router.yaml").exists() and (var / "clinic-router").is_dir()
    assert "kept" in out
    run("uninstall.sh", root, "--purge")
    assert not etc.exists() and not (var / "clinic-router").exists()
