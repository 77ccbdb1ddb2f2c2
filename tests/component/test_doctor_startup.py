"""The doctor's checks at router start, against the fake Asterisk (fakeari): music on
hold is checked through Asterisk's CLI like `doctor` does, its failure logged once as a
warning with the fix; without a CLI the check says once, at info, that it did not run."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from router.config.rules import load_rules
from router.config.settings import load_settings
from router.doctor.startup import log_pbx_problems
from tests.fakeari import FakeAsterisk
from tests.fakeari.server import ACCESS


def _stub_cli(classes: list[str], asked: list[str]) -> Callable[[str], str | None]:
    def run(command: str) -> str | None:
        asked.append(command)
        return "".join(f"Class: {c}\n\tMode: files\n" for c in classes)

    return run


async def _start_checks(
    fake: FakeAsterisk, folder: Path, cli: Callable[[str], str | None] | None
) -> None:
    (folder / "rules.yaml").write_text(
        "format: 1\nskills: {paid: Paid}\noperators:\n"
        "  - {id: a, name: A, endpoint: PJSIP/op1001, skills: {paid: 1}}\n"
    )
    (folder / "router.yaml").write_text(f"ari: {{url: '{fake.url}'}}\n")
    env = {"CLINIC_ROUTER_ARI_PASSWORD": ACCESS.password}
    settings = load_settings(folder / "router.yaml", env=env, secrets=False)
    async with aiohttp.ClientSession() as session:
        await log_pbx_problems(settings, load_rules(settings.routing.rules), session, cli)


def _moh_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "music on hold" in r.getMessage()]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as ast:
        ast.phone("PJSIP/op1001", "answer")
        yield ast


async def test_no_music_class_is_one_warning_with_the_fix(
    fake: FakeAsterisk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.doctor")
    asked: list[str] = []
    await _start_checks(fake, tmp_path, _stub_cli(["clinic-other"], asked))
    assert asked == ["moh show classes"]
    [record] = _moh_records(caplog)
    assert record.levelno == logging.WARNING
    assert "class 'default'" in record.getMessage()
    assert "asterisk-moh-opsound" in record.getMessage()  # the fix


async def test_a_loaded_class_logs_nothing(
    fake: FakeAsterisk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.doctor")
    asked: list[str] = []
    await _start_checks(fake, tmp_path, _stub_cli(["default"], asked))
    assert asked == ["moh show classes"] and _moh_records(caplog) == []


async def test_without_a_cli_it_says_once_that_it_did_not_check(
    fake: FakeAsterisk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.doctor")
    await _start_checks(fake, tmp_path, None)
    [record] = _moh_records(caplog)
    assert record.levelno == logging.INFO and "not checked" in record.getMessage()
