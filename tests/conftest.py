"""Shared fixtures: one real embedded database process per test session.

Each test module gets its own database on that server and its own app (with
its full lifespan), talked to over the ASGI transport; ``live_server`` runs
the same app under a real uvicorn on a loopback port for tests that need real
sockets and separate clients.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn

from fhir_server.app import create_app
from fhir_server.cli.serve import uvicorn_config
from fhir_server.settings import Settings
from fhir_server.storage.embedded import EmbeddedServer


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """A real MongoDB-wire server: FHIR_TEST_MONGODB_URI, or an embedded one."""
    configured = os.environ.get("FHIR_TEST_MONGODB_URI")
    if configured:
        yield configured
        return
    with (
        tempfile.TemporaryDirectory(prefix="fhir-test-db-") as data,
        EmbeddedServer(data, cache_size="512M") as server,
    ):
        yield server.uri


def make_settings(mongo_uri: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mongodb_uri": mongo_uri,
        "database": f"test_{uuid.uuid4().hex[:12]}",
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


class AppClient:
    """An app with its lifespan running, and an httpx client bound to it."""

    def __init__(self, settings: Settings, *, drop: bool = True) -> None:
        self.settings = settings
        self.drop = drop  # drop the database at exit (keep it to test a restart)
        self.app = create_app(settings)
        self._lifespan: Any = None
        self.http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )
        return self.http

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.aclose()
        storage = self.app.state.storage
        if self.drop:
            await storage.client.drop_database(self.settings.database)
        await self._lifespan.__aexit__(None, None, None)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(mongo_uri: str) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app (own database) over ASGI."""
    async with AppClient(make_settings(mongo_uri)) as http:
        yield http


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(mongo_uri: str) -> Iterator[str]:
    """The app under a real uvicorn on loopback, in a thread with its own loop."""
    port = _free_port()
    settings = make_settings(mongo_uri)
    server = uvicorn.Server(uvicorn_config(create_app(settings), host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


def patient(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": "Dupont", "given": ["Léa"]}],
        "gender": "female",
        "birthDate": "2015-03-04",
    }
    body.update(extra)
    return body


IG_DIR = Path(__file__).resolve().parents[1] / "ig"
_LITERAL = re.compile(r'"reference":\s*"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]+)"')


def ig_example_graph(*files: str) -> list[dict[str, Any]]:
    """IG example files plus every IG example they reference, transitively.

    Writes check that referenced resources exist, so a test that stores an
    IG example stores what it points to as well.
    """
    by_key = {}
    for path in IG_DIR.glob("*-example-*.json"):
        resource = json.loads(path.read_text())
        by_key[f"{resource['resourceType']}/{resource['id']}"] = (path, resource)
    wanted = [json.loads((IG_DIR / f).read_text()) for f in files]
    out: dict[str, dict[str, Any]] = {}
    while wanted:
        resource = wanted.pop()
        key = f"{resource['resourceType']}/{resource['id']}"
        if key in out:
            continue
        out[key] = resource
        text = json.dumps(resource)
        wanted.extend(
            by_key[f"{t}/{i}"][1] for t, i in _LITERAL.findall(text) if f"{t}/{i}" in by_key
        )
    return list(out.values())


async def put_ig_examples(http: httpx.AsyncClient, *files: str) -> None:
    """Store IG examples and what they reference, in one transaction (PUT keeps their ids)."""
    entries = [
        {
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in ig_example_graph(*files)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = await http.post("/", json=bundle)
    assert response.status_code == 200, response.text
