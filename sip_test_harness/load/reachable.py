"""Is a PBX there? One SIP OPTIONS over UDP; any response will do (even 401 or 404)."""

from __future__ import annotations

import socket
import uuid

from sip_test_harness.errors import HarnessError


def options_request(host: str, port: int, local_ip: str, local_port: int) -> bytes:
    """An out-of-dialog OPTIONS from this host."""
    tag = uuid.uuid4().hex[:10]
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {local_ip}:{local_port};branch=z9hG4bK-{tag}\r\n"
        f"From: <sip:load-probe@{local_ip}>;tag={tag}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {tag}@{local_ip}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def check_sip_reachable(target: str, local_ip: str, timeout: float = 3.0) -> None:
    """HarnessError unless ``host:port`` answers an OPTIONS within ``timeout``."""
    host, _, port_text = target.partition(":")
    port = int(port_text or 5060)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.bind((local_ip, 0))
            sock.sendto(options_request(host, port, local_ip, sock.getsockname()[1]), (host, port))
            sock.recvfrom(65535)
        except (TimeoutError, OSError) as exc:
            raise HarnessError(
                f"the PBX at {target} does not answer SIP (OPTIONS: {exc or 'no response'}); "
                "check the address, the firewall, and that it listens on UDP"
            ) from exc
