"""Asterisk's manager interface on the wire, for the AMI component tests."""

from __future__ import annotations

import asyncio

from router.ami.protocol import parse_message


class FakeAmi:
    """Asterisk's manager interface: greeting, `Response: Success` per action, events."""

    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.live: list[str] = []  # channels CoreShowChannels lists
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while raw := await reader.readuntil(b"\r\n\r\n"):
                action = parse_message(raw)
                self.actions.append(action)
                action_id = action["ActionID"]
                writer.write(f"Response: Success\r\nActionID: {action_id}\r\n\r\n".encode())
                if action["Action"] == "CoreShowChannels":  # a list, as Asterisk sends it
                    for uid in self.live:
                        writer.write(
                            f"Event: CoreShowChannel\r\nActionID: {action_id}\r\n"
                            f"Uniqueid: {uid}\r\nApplication: Queue\r\nBridgeId: \r\n\r\n".encode()
                        )
                    writer.write(
                        f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\n\r\n".encode()
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def send(self, event: str, **fields: str) -> None:
        body = "".join(f"{k}: {v}\r\n" for k, v in {"Event": event, **fields}.items())
        self.writers[-1].write((body + "\r\n").encode())

    def drop(self) -> None:
        self.writers[-1].transport.abort()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
