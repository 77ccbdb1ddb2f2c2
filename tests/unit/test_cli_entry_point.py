"""The installed `clinic-router` script (pyproject's entry point) and every command's --help."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from router.cli.main import main

SCRIPT = Path(sys.executable).with_name("clinic-router")


def test_the_installed_script_lists_every_command() -> None:
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = re.search(r"\{([a-z,-]+)\}", done.stdout)
    assert listed, done.stdout
    assert set(listed.group(1).split(",")) == set(commands())


def commands() -> list[str]:
    usage = help_of()
    listed = re.search(r"\{([a-z,-]+)\}", usage)
    assert listed, usage
    return listed.group(1).split(",")


def help_of(*command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    return out.getvalue()


def test_each_command_has_help() -> None:
    found = commands()
    assert {"run", "check", "simulate", "patients", "callbacks", "users", "report"} <= set(found)
    for command in found:
        assert help_of(command).startswith(f"usage: clinic-router {command}"), command
