"""Console sign-in, roles, CSRF, expiry, throttling and audit, on a real aiohttp server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_support import TOKEN
from console_support import (
    PASSWORD,
    Clock,
    Console,
    add_users,
    browser,
    csrf_of,
    serving_console,
    sign_in,
)
from storage_support import migrated_store

from router.console.passwords import hash_password
from router.console.session import COOKIE_NAME
from router.storage import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store("sqlite", tmp_path) as s:
        await add_users(s)
        yield s


@pytest.fixture
async def console(store: Store) -> AsyncIterator[Console]:
    async with serving_console(store, Clock(time.time())) as c:
        yield c


async def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(console: Console) -> None:
    async with browser() as client:
        async with client.get(f"{console.base}/console/audit", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/console/signin?next=/console/audit"
        async with client.get(f"{console.base}/console/signin?next=/console/audit") as form:
            assert 'name="next" value="/console/audit"' in await form.text()
        resp = await sign_in(client, console.base, "ada", next_path="/console/audit")
        assert resp.status == 303
        assert resp.headers["Location"] == "/console/audit"
        async with client.get(f"{console.base}/console/audit") as page:
            assert page.status == 200
            assert "Audit log" in await page.text()


async def test_the_cookie_is_httponly_strict_and_reveals_nothing(console: Console) -> None:
    async with browser() as client:
        resp = await sign_in(client, console.base, "sam")
        assert resp.status == 303 and resp.headers["Location"] == "/console/wallboard"
        cookie = resp.cookies[COOKIE_NAME]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/console"
        assert "sam" not in cookie.value and "supervisor" not in cookie.value


async def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    async with browser() as client:
        data = {"username": "ada", "password": PASSWORD}
        async with client.post(f"{console.base}/console/signin", data=data) as resp:
            assert resp.status == 403
            assert "CSRF" in await resp.text()
        await sign_in(client, console.base, "ada")
        async with client.post(
            f"{console.base}/console/signout", data={"csrf_token": "forged"}
        ) as resp:
            assert resp.status == 403
        async with client.get(f"{console.base}/console/account") as page:
            assert page.status == 200  # still signed in: the forged sign-out did nothing


async def test_an_operator_gets_403_on_admin_pages(console: Console) -> None:
    async with browser() as client:
        resp = await sign_in(client, console.base, "olga")
        assert resp.headers["Location"] == "/console/operator/op1001"
        async with client.get(f"{console.base}/console/audit") as page:
            assert page.status == 403
            assert page.content_type == "text/html"


async def test_sign_out_ends_the_session(console: Console) -> None:
    async with browser() as client:
        await sign_in(client, console.base, "ada")
        async with client.get(f"{console.base}/console/account") as page:
            token = csrf_of(await page.text())
        async with client.post(
            f"{console.base}/console/signout", data={"csrf_token": token}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].startswith("/console/signin")


async def test_sessions_expire_when_idle(console: Console) -> None:
    async with browser() as client:
        await sign_in(client, console.base, "ada")
        console.clock.now += 29 * 60
        async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
            assert resp.status == 200  # and this request counts as activity
        console.clock.now += 29 * 60
        async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
            assert resp.status == 200
        console.clock.now += 31 * 60
        async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
            assert resp.status == 303


async def test_a_disabled_user_or_a_new_password_ends_sessions(
    console: Console, store: Store
) -> None:
    async with browser() as one, browser() as two:
        await sign_in(one, console.base, "ada")
        await sign_in(two, console.base, "sam")
        await store.users.set_disabled("ada", True)
        await store.users.set_password("sam", hash_password("another password"))
        for client in (one, two):
            async with client.get(
                f"{console.base}/console/account", allow_redirects=False
            ) as resp:
                assert resp.status == 303
        resp = await sign_in(one, console.base, "ada")
        assert resp.status == 401  # disabled: the right password does not help


async def test_the_sixth_failed_sign_in_within_a_minute_is_slowed(console: Console) -> None:
    async with browser() as client:
        for _ in range(5):
            resp = await sign_in(client, console.base, "sam", "wrong password")
            assert resp.status == 401
        resp = await sign_in(client, console.base, "sam")  # right password, too soon
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        other = await sign_in(client, console.base, "ada")  # another user is not locked out
        assert other.status == 303


async def test_sign_ins_are_audited_in_the_console_and_the_api(console: Console) -> None:
    async with browser() as client:
        await sign_in(client, console.base, "ghost", "nobody's password")
        await sign_in(client, console.base, "ada")
        async with client.get(f"{console.base}/console/audit") as page:
            html = await page.text()
        assert "ghost" in html and "refused" in html and "127.0.0.1" in html
        async with client.get(f"{console.base}/api/audit") as resp:
            assert resp.status == 401  # the console's cookie is no API credential
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with client.get(f"{console.base}/api/audit?limit=10", headers=headers) as resp:
            body = await resp.json()
    actions = [(e["actor"], e["action"], e["ok"]) for e in body["entries"]]
    assert actions[:2] == [("ada", "signin", True), ("ghost", "signin", False)]
    assert body["entries"][0]["remote"] == "127.0.0.1"


async def test_the_pages_forbid_inline_scripts_and_caching(console: Console) -> None:
    async with browser() as client:
        async with client.get(f"{console.base}/console/signin") as page:
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            assert page.headers["Cache-Control"] == "no-store"
        async with client.get(f"{console.base}/console/static/console.css") as css:
            assert css.status == 200


async def test_sign_in_never_redirects_off_the_console(console: Console) -> None:
    async with browser() as client:
        resp = await sign_in(client, console.base, "ada", next_path="//evil.example/console/")
        assert resp.headers["Location"] == "/console/wallboard"
