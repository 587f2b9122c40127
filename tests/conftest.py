"""Shared fixtures: one real embedded database process per test session.

Each test module gets its own database on that server and its own app (with
its full lifespan), talked to over the ASGI transport; ``live_server`` runs
the same app under a real uvicorn on a loopback port for tests that need real
sockets and separate clients.

Authentication is on, as in production: the default clients carry a trusted
system's token (``system/*.cruds``) minted exactly as ``fhir-server token``
mints it, by the development issuer of the session's data directory;
``AppClient.client_for`` gives a client acting as a given user.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn

from fhir_server.app import create_app
from fhir_server.http_server import uvicorn_config
from fhir_server.security.tokens import mint_dev_token
from fhir_server.settings import Settings
from fhir_server.storage.embedded import EmbeddedServer


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """A real MongoDB-wire server: FHIR_TEST_MONGODB_URI, or an embedded one."""
    configured = os.environ.get("FHIR_TEST_MONGODB_URI")
    if configured:
        yield configured
        return
    # The shared test database does not fsync its journal on each commit: that made the
    # suite about 1.8x slower on a busy machine and loads a shared disk, and no test of
    # this database survives a crash anyway. The durability of what `fhir-server serve`
    # starts is tested on its own processes (storage/test_crash_durability.py).
    with (
        tempfile.TemporaryDirectory(prefix="fhir-test-db-") as data,
        EmbeddedServer(data, cache_size="512M", sync_on_commit=False) as server,
    ):
        yield server.uri


# The development issuer's key pair of the test session (what `fhir-server token --data` reads).
DATA_DIR = Path(tempfile.mkdtemp(prefix="fhir-test-data-"))
atexit.register(shutil.rmtree, DATA_DIR, True)
SYSTEM_SCOPE = "system/*.cruds"


def token(
    settings: Settings, *, fhir_user: str | None = None, scope: str | None = None, **claims: Any
) -> str:
    """A token of the development issuer, as `fhir-server token` prints it."""
    default = "user/*.cruds" if fhir_user else SYSTEM_SCOPE
    return mint_dev_token(settings, fhir_user=fhir_user, scope=scope or default, extra=claims)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def system_headers(data_dir: Path) -> dict[str, str]:
    """A trusted system's token for a server started (as a process) on ``data_dir``."""
    return bearer(token(Settings(data_dir=data_dir)))


def make_settings(mongo_uri: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mongodb_uri": mongo_uri,
        "database": f"test_{uuid.uuid4().hex[:12]}",
        "log_level": "WARNING",
        "data_dir": DATA_DIR,
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
        self.http = self.client_for()
        return self.http

    def client_for(
        self, fhir_user: str | None = None, *, scope: str | None = None, raw: str | None = None
    ) -> httpx.AsyncClient:
        """A client over the same ASGI app, acting as ``fhir_user`` (default: a system)."""
        if raw is not None:
            value = raw
        elif self.settings.auth.jwks:  # an external issuer: the test signs its own tokens
            value = ""
        else:
            value = token(self.settings, fhir_user=fhir_user, scope=scope)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers=bearer(value) if value else {},
        )

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.aclose()
        storage = self.app.state.storage
        if self.drop:
            await storage.client.drop_database(self.settings.database)
        await self._lifespan.__aexit__(None, None, None)


@asynccontextmanager
async def loaded_app(mongo_uri: str, bundle: dict[str, Any]) -> AsyncIterator[AppClient]:
    """A fresh app (own database) with ``bundle`` posted by a trusted system: a test world."""
    server = AppClient(make_settings(mongo_uri))
    async with server as system:
        r = await system.post("/", json=bundle)
        assert r.status_code == 200, r.text
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(mongo_uri: str) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app (own database) over ASGI."""
    async with AppClient(make_settings(mongo_uri)) as http:
        yield http


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer(str):
    """The base URL of a live server, with the settings it runs and a system token's headers."""

    settings: Settings
    headers: dict[str, str]


@pytest.fixture(scope="module")
def live_server(mongo_uri: str) -> Iterator[LiveServer]:
    """The app under a real uvicorn on loopback, in a thread with its own loop."""
    port = _free_port()
    settings = make_settings(mongo_uri)
    server = uvicorn.Server(
        uvicorn_config(create_app(settings), settings, host="127.0.0.1", port=port)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    live = LiveServer(f"http://127.0.0.1:{port}")
    live.settings = settings
    live.headers = bearer(token(settings))
    yield live
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
