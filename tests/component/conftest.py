"""Fixtures shared by the component tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_support import Cli, cli_in_process
from console_support import Live, add_users, live_console
from storage_support import migrated_store


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """The console with its users over a live board and waiting room (console_support)."""
    async with migrated_store("sqlite", tmp_path) as store:
        await add_users(store)
        async with live_console(store) as running:
            yield running


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`clinic-router ARGS --config router.yaml` on `db_url`, in this process (cli_support)."""
    return cli_in_process(capsys, monkeypatch)
