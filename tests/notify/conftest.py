"""A real SMTP server on loopback (aiosmtpd) that a test can stop and start again.

The server keeps every message it accepted; ``stop()`` closes the port (a
client then gets "connection refused", exactly an outage), ``start()``
listens again on the same port, so the FHIR server's ``FHIR_SMTP_URL`` never
changes during a test.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class _Collect:
    def __init__(self, box: list[Message]) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.box.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 Message accepted for delivery"


class LoopbackSmtp:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.received: list[Message] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Collect(self.received), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Message]:
        return [m for m in self.received if address in str(m["To"])]


@pytest.fixture(scope="module")
def smtp() -> Iterator[LoopbackSmtp]:
    server = LoopbackSmtp()
    server.start()
    yield server
    server.stop()


async def eventually(check: Any, within: float = 15.0) -> None:
    """Wait until ``check()`` is true (the worker delivers in the background)."""
    deadline = time.monotonic() + within
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
