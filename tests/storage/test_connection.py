"""A standalone MongoDB (no transactions) is detected at start-up and explained."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from fhir_server.storage.connection import DatabaseConfigurationError, open_client
from fhir_server.storage.embedded import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _start_standalone(exe: str, port: int, data: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--storage-path", data, "--standalone"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    deadline = time.monotonic() + 30
    while True:
        try:
            with MongoClient(uri, serverSelectionTimeoutMS=300) as c:
                c.admin.command("ping")
            return proc
        except PyMongoError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


async def test_standalone_server_is_refused_with_a_clear_message() -> None:
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        proc = await asyncio.to_thread(_start_standalone, exe, port, data)
        try:
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            with pytest.raises(DatabaseConfigurationError, match="replica set"):
                await open_client(uri, timeout_ms=2000)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
