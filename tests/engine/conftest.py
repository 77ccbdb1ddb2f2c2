"""Fixtures of the engine tier: a fake Asterisk per test, and the real engine against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.harness import RouterUnderTest
from tests.fakeari import FakeAsterisk


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as ast:
        ast.phone("PJSIP/op1001", "answer")
        ast.phone("PJSIP/op1002", "answer")
        yield ast


@pytest.fixture
async def router(fake: FakeAsterisk, tmp_path: Path) -> AsyncIterator[RouterUnderTest]:
    """A started router; stopped (as on SIGTERM) after the test."""
    under_test = RouterUnderTest(fake, tmp_path)
    await under_test.start()
    try:
        yield under_test
    finally:
        await under_test.stop()
