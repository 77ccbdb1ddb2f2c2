"""Console sign-in, roles, CSRF, expiry, throttling and audit, on a real aiohttp server.

The users' hashes are cheap to check (console_support.quick_hash); the concurrent sign-ins
check a password hashed as `clinic-router users` hashes it (`hash_password`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from http.cookies import Morsel
from pathlib import Path

import aiohttp
import pytest
from api_support import TOKEN
from console_support import (
    PASSWORD,
    Clock,
    Console,
    add_users,
    browser,
    csrf_of,
    quick_hash,
    serving_console,
    sign_in,
)
from storage_support import migrated_store

from router.config.console_settings import ConsoleSettings
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
        await store.users.set_password("sam", quick_hash("another password"))
        for client in (one, two):
            async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
                assert resp.status == 303
        resp = await sign_in(one, console.base, "ada")
        assert resp.status == 401  # disabled: the right password does not help
        resp = await sign_in(two, console.base, "sam", "another password")
        assert resp.status == 303


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
        await sign_in(client, console.base, "sam", "wrong password")
        await sign_in(client, console.base, "ada")
        async with client.get(f"{console.base}/console/audit") as page:
            html = await page.text()
        assert "sam" in html and "refused" in html and "127.0.0.1" in html
        async with client.get(f"{console.base}/api/audit") as resp:
            assert resp.status == 401  # the console's cookie is no API credential
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with client.get(f"{console.base}/api/audit?limit=10", headers=headers) as resp:
            body = await resp.json()
    actions = [(e["actor"], e["action"], e["ok"]) for e in body["entries"]]
    assert actions[:2] == [("ada", "signin", True), ("sam", "signin", False)]
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


def _cookie_of(client: aiohttp.ClientSession) -> str:
    found = [c.value for c in client.cookie_jar if c.key == COOKIE_NAME]
    assert found, "no console cookie in the jar"
    return found[0]


async def _status_with_cookie(base: str, cookie: str) -> int:
    """A GET from another machine that copied the cookie (no jar of its own)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as thief:
        headers = {"Cookie": f"{COOKIE_NAME}={cookie}"}
        async with thief.get(
            f"{base}/console/account", headers=headers, allow_redirects=False
        ) as resp:
            return resp.status


async def test_a_cookie_copied_before_sign_out_is_void_after_it(console: Console) -> None:
    async with browser() as client:
        await sign_in(client, console.base, "ada")
        copied = _cookie_of(client)
        assert await _status_with_cookie(console.base, copied) == 200
        async with client.get(f"{console.base}/console/account") as page:
            token = csrf_of(await page.text())
        async with client.post(
            f"{console.base}/console/signout", data={"csrf_token": token}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
    assert await _status_with_cookie(console.base, copied) == 303


async def test_a_new_password_or_disabling_voids_copied_cookies(
    console: Console, store: Store
) -> None:
    async with browser() as one, browser() as two:
        await sign_in(one, console.base, "ada")
        await sign_in(two, console.base, "sam")
        ada, sam = _cookie_of(one), _cookie_of(two)
        await store.users.set_password("ada", quick_hash("another password"))
        await store.users.set_disabled("sam", True)
        await store.users.set_disabled("sam", False)  # enabling again does not revive it
    assert await _status_with_cookie(console.base, ada) == 303
    assert await _status_with_cookie(console.base, sam) == 303


async def test_sessions_survive_a_router_restart(store: Store) -> None:
    clock = Clock(time.time())
    async with browser() as client:
        async with serving_console(store, clock) as first:
            await sign_in(client, first.base, "ada")
            copied = _cookie_of(client)
        async with serving_console(store, clock) as second:
            assert await _status_with_cookie(second.base, copied) == 200


async def test_sessions_end_after_their_longest_life_however_busy(console: Console) -> None:
    async with browser() as client:
        await sign_in(client, console.base, "ada")
        for minutes in [20] * 35 + [19]:  # a request every 20 minutes, for 11 h 59 min
            console.clock.now += minutes * 60
            async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
                assert resp.status == 200
        console.clock.now += 2 * 60
        async with client.get(f"{console.base}/console/account", allow_redirects=False) as resp:
            assert resp.status == 303


async def _signin_cookie(console: Console, headers: dict[str, str]) -> Morsel[str]:
    """The cookie a sign-in sets. Carried by hand: a jar would not send a Secure cookie
    back over the test's plain HTTP."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        async with client.get(f"{console.base}/console/signin", headers=headers) as form:
            token = csrf_of(await form.text())
            first = form.cookies[COOKIE_NAME]
        data = {"username": "ada", "password": PASSWORD, "csrf_token": token}
        carried = {**headers, "Cookie": f"{COOKIE_NAME}={first.value}"}
        async with client.post(
            f"{console.base}/console/signin", data=data, headers=carried, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            return resp.cookies[COOKIE_NAME]


async def test_the_cookie_is_secure_when_the_browser_came_over_https(console: Console) -> None:
    plain = await _signin_cookie(console, {})
    assert not plain["secure"]  # plain HTTP (a test box): a Secure cookie would never return
    proxied = await _signin_cookie(console, {"X-Forwarded-Proto": "https"})
    assert proxied["secure"] is True  # the local TLS proxy said so
    assert proxied["httponly"] is True and proxied["samesite"] == "Strict"


async def test_only_a_trusted_proxy_makes_the_cookie_secure_and_true_forces_it(
    store: Store,
) -> None:
    untrusted = ConsoleSettings(trusted_proxies=("10.9.9.9",))
    async with serving_console(store, Clock(time.time()), untrusted) as console:
        told = await _signin_cookie(console, {"X-Forwarded-Proto": "https"})
        assert not told["secure"]
    forced = ConsoleSettings(secure_cookie=True)
    async with serving_console(store, Clock(time.time()), forced) as console:
        assert (await _signin_cookie(console, {}))["secure"] is True


async def test_concurrent_failed_sign_ins_cannot_pass_the_limit(
    console: Console, store: Store
) -> None:
    # Checks at the command's cost: each takes the time a real one does, so all twelve
    # are under way together, as in an attack.
    await store.users.set_password("sam", hash_password(PASSWORD))
    async with browser() as client:
        async with client.get(f"{console.base}/console/signin") as form:
            token = csrf_of(await form.text())

        async def attempt(password: str) -> int:
            data = {"username": "sam", "password": password, "csrf_token": token}
            async with client.post(
                f"{console.base}/console/signin", data=data, allow_redirects=False
            ) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(attempt(f"guess {i}") for i in range(12)))
        assert sorted(statuses) == [401] * 5 + [429] * 7
        assert await attempt(PASSWORD) == 429  # the right one, still within the minute


async def test_a_name_that_is_no_user_is_not_stored_as_typed(console: Console) -> None:
    pasted = "my secret passw0rd"  # a password typed into the name field
    async with browser() as client:
        await sign_in(client, console.base, pasted, "whatever")
        await sign_in(client, console.base, pasted, "again")
        await sign_in(client, console.base, "ada")
        async with client.get(f"{console.base}/console/audit") as page:
            html = await page.text()
    assert pasted not in html
    entries = await console.deps.audit.recent(limit=10)
    refused = [e for e in entries if e.action == "signin" and not e.ok]
    assert len(refused) == 2
    assert all(e.actor is None and e.details["why"] == "unknown user" for e in refused)
    hashes = {e.details["name_hash"] for e in refused}
    assert len(hashes) == 1  # the same unknown name is recognisable, not readable
    assert pasted not in repr(entries)


async def test_a_number_never_goes_into_an_address(console: Console) -> None:
    async with browser() as client:
        url = f"{console.base}/console/calls?number=%2B79161234567&outcome=answered"
        async with client.get(url, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/console/signin?next=/console/calls"
        async with client.get(
            f"{console.base}/console/wallboard?kiosk=1", allow_redirects=False
        ) as resp:
            assert resp.headers["Location"] == "/console/signin?next=/console/wallboard?kiosk=1"
