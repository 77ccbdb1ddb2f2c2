"""Browser tests of the console: Debian's chromium driven by Playwright, a router with
console users, and helpers to sign in and to keep screenshots for the docs."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

from router.cli.users import add_users_parser, run_users
from router.config.settings import load_settings
from sip_test_harness.router_process import REPO, RouterProcess

PASSWORD = "browser-test-password"
# Set to a folder (e.g. docs/images) to keep the screenshots the tests take there.
SCREENSHOTS_ENV = "CLINIC_ROUTER_SCREENSHOTS"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Debian chromium (installed by sip_test_harness/install-deps.sh); the
    Playwright package downloads no browser of its own."""
    path = shutil.which("chromium")
    assert path, "no chromium: run `make deps` (sip_test_harness/install-deps.sh)"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def add_user(
    router: RouterProcess, name: str, role: str, operator: str | None = None
) -> None:
    """`clinic-router users add NAME --role ROLE --password-stdin` in this process: the
    command's own parser and function, without a new Python's 4-20 s of imports."""
    argv = ["users", "add", name, "--role", role, "--password-stdin"]
    if operator:
        argv += ["--operator", operator]
    parser = argparse.ArgumentParser(prog="clinic-router")
    add_users_parser(parser.add_subparsers(dest="command", required=True), str(router.config))
    settings = load_settings(router.config, env=router.env, secrets=False)
    stdin, sys.stdin = sys.stdin, io.StringIO(PASSWORD + "\n")
    try:
        code = await run_users(parser.parse_args(argv), settings, io.StringIO())
    finally:
        sys.stdin = stdin
    assert code == 0, f"users add {name} exited with {code}"


@asynccontextmanager
async def console_router(
    folder: Path, rules: str, users: Sequence[tuple[str, str, str | None]], **options: Any
) -> AsyncIterator[RouterProcess]:
    """A router on `rules` (YAML text) in `folder` with console `users` (name, role,
    operator), started; `options` go to `RouterProcess`."""
    path = folder / "rules.yaml"
    path.write_text(rules, encoding="utf-8")
    proc = RouterProcess(folder, rules=path, **options)
    for name, role, operator in users:
        await add_user(proc, name, role, operator)
    await proc.start()
    try:
        yield proc
    finally:
        await proc.stop()


async def set_state(router: RouterProcess, op: str, state: str, reason: str | None = None) -> None:
    body: dict[str, str] = {"state": state}
    if reason:
        body["reason"] = reason
    status, answer = await router.request("PUT", f"/api/operators/{op}/state", body)
    assert status == 200, answer


def console_url(router: RouterProcess, path: str = "") -> str:
    return f"http://127.0.0.1:{router.port}/console/{path}"


async def sign_in(page: Page, router: RouterProcess, name: str, path: str = "") -> None:
    """Open `path`, be sent to the sign-in form, sign in, and come back to `path`."""
    await page.goto(console_url(router, path))
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        target = REPO / folder if not Path(folder).is_absolute() else Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(target / f"{name}.png"), full_page=True)
