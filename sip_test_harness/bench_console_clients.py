"""The console benchmark's open wallboards, in a process of their own (their parsing is
not the router's CPU): N streams of `/console/wallboard/events`, one signed-in session.

    python -m sip_test_harness.bench_console_clients BASE N USER OPS < password

Prints `ready I` once client I has its first board, then `frame I AT PROBE OPS` per
board received (AT epoch seconds, PROBE the probe queue's count, OPS the watched
operators on a call, comma-separated or `-`).
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

from sip_test_harness.bench_console_frames import parse_board


async def sign_in(session: aiohttp.ClientSession, base: str, user: str, password: str) -> None:
    async with session.get(f"{base}/console/signin") as form:
        html = await form.text()
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data = {"username": user, "password": password, "csrf_token": token}
    async with session.post(f"{base}/console/signin", data=data) as resp:
        if resp.status != 200:
            raise RuntimeError(f"sign-in answered {resp.status}")


async def watch(
    session: aiohttp.ClientSession, base: str, index: int, watched: frozenset[str]
) -> None:
    async with session.get(f"{base}/console/wallboard/events") as stream:
        data: list[str] = []
        first = True
        while line := await stream.content.readline():
            text = line.decode().rstrip("\r\n")
            if text.startswith("data:"):
                data.append(text[5:].removeprefix(" "))
                continue
            if text or not data:
                continue
            frame = parse_board("\n".join(data), time.time(), watched)
            data = []
            if first:
                print(f"ready {index}", flush=True)
                first = False
            ops = ",".join(sorted(frame.on_call)) or "-"
            print(f"frame {index} {frame.at:.6f} {frame.probe_waiting} {ops}", flush=True)


async def main(base: str, count: int, user: str, watched: frozenset[str]) -> None:
    password = sys.stdin.readline().strip()
    # One sign-in, its session shared by every stream (a supervisor's tabs): N argon2
    # checks would take minutes on a loaded machine and measure the sign-in, not the board.
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        connector=aiohttp.TCPConnector(limit=0),
    ) as session:
        await sign_in(session, base, user, password)
        await asyncio.gather(*(watch(session, base, i, watched) for i in range(count)))


if __name__ == "__main__":
    base_, count_, user_, ops_ = sys.argv[1:5]
    asyncio.run(main(base_, int(count_), user_, frozenset(ops_.split(","))))
