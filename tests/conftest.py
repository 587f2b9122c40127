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
import os
import shutil
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
    with (
        tempfile.TemporaryDirectory(prefix="fhir-test-db-") as data,
        EmbeddedServer(data, cache_size="512M") as server,
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
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
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
