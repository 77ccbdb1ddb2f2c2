"""The whole suite's conftest: with ``--dist loadfile`` (make test TEST_WORKERS=2), files
that share something outside their worker's sandbox run on one worker, one after the other.

Each pytest-xdist worker has a sandbox instance of its own (tests/asterisk/conftest.py),
but the stock-PBX tests share more: one address (127.0.0.2), the apt cache and the
Debian 13 root they build once (stock_root.py). Their files form one work unit; every
other file is its own, as plain ``loadfile`` makes it. (A conftest here, not a ``-p``
plugin: xdist's controller reads it, and ``tests`` need not be importable beforehand.)
"""

from __future__ import annotations

from typing import Any

import pytest

# test file -> the work unit it joins
SHARED = {
    "tests/asterisk/test_doctor.py": "stock-pbx",
    "tests/asterisk/test_stock_pbx.py": "stock-pbx",
}


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class SharedFileScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED.get(path, path)

    return SharedFileScheduling(config, log)
