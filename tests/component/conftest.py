"""Fixtures shared by the component tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from console_support import Live, add_users, live_console
from storage_support import migrated_store


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """The console with its users over a live board and waiting room (console_support)."""
    async with migrated_store("sqlite", tmp_path) as store:
        await add_users(store)
        async with live_console(store) as running:
            yield running
