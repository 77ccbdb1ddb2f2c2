"""Blocking, stdlib-only probes of the sandbox: ARI over HTTP, the ARI WebSocket, ports.

Blocking on purpose: the session fixture and the CLI are synchronous, and an event
loop may or may not be running around them.
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from sip_test_harness.instance import current


@dataclass(frozen=True)
class AriAccess:
    """Where ARI listens and how to log in (sandbox defaults from contracts.md; the
    host is the current sandbox instance's, instance.py)."""

    host: str = field(default_factory=lambda: current().host)
    port: int = 8088
    user: str = "clinic-router"
    password: str = "clinic-router-secret"

    @property
    def url(self) -> str:
        """Base URL of the REST API, e.g. ``http://127.0.0.1:8088/ari``."""
        return f"http://{self.host}:{self.port}/ari"

    def authorization(self) -> str:
        """Value of the HTTP Authorization header (Basic)."""
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def __repr__(self) -> str:  # never show the password
        return f"AriAccess(url={self.url!r}, user={self.user!r})"


def ari_get(ari: AriAccess, path: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET ``/ari/<path>``; return (HTTP status, parsed JSON or raw text). Raises OSError."""
    conn = http.client.HTTPConnection(ari.host, ari.port, timeout=timeout)
    try:
        conn.request(
            "GET", f"/ari/{path.lstrip('/')}", headers={"Authorization": ari.authorization()}
        )
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body


def websocket_accepted(
    ari: AriAccess, app: str = "clinic-sandbox-probe", timeout: float = 2.0
) -> bool:
    """True when ARI upgrades ``/ari/events`` to a WebSocket (it answers 503 ~3 s after boot).

    Closes the socket with a proper close frame so Asterisk does not log an abrupt close.
    ``app`` must not match the dialplan's ``^clinic-router`` so no call is ever offered to it.
    """
    sock = socket.create_connection((ari.host, ari.port), timeout=timeout)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ari/events?app={app} HTTP/1.1\r\nHost: {ari.host}:{ari.port}\r\n"
            f"Authorization: {ari.authorization()}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = _read_head(sock)
        status_line = head.split(b"\r\n", 1)[0].split()
        accepted = len(status_line) >= 2 and status_line[1] == b"101"
        if accepted:
            sock.sendall(_close_frame())
        return accepted
    finally:
        sock.close()


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _close_frame() -> bytes:
    """A masked WebSocket close frame with status 1000, as a client must send it."""
    mask = os.urandom(4)
    payload = (1000).to_bytes(2, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x88, 0x80 | len(payload)]) + mask + masked


def port_in_use(kind: int, host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (``kind`` is SOCK_DGRAM or SOCK_STREAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # ignore TIME_WAIT leftovers of a previous run; a live listener still fails
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False
