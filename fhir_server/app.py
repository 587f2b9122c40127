"""``create_app()``: the HTTP app and the lifespan that owns the database and services.

Start-up opens the database (the configured MongoDB, or the embedded server
started as a child process) and builds the services (``bootstrap``);
shutdown closes the client and stops the embedded server. While it runs, the
embedded server is watched (``storage/supervisor.py``, exposed as
``app.state.database``) and restarted if it dies; when it cannot be,
``app.state.stop_serving`` is called (the CLI makes it stop uvicorn and exit
non-zero). ``fhir-server serve`` and the tests build the server with this
same function.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Route

from fhir_server import __version__
from fhir_server.api import wellknown
from fhir_server.api.availability import DatabaseGate
from fhir_server.api.middleware import RequestIdMiddleware
from fhir_server.api.routes import FHIR_METHODS, fhir_endpoint, router
from fhir_server.api.url_limit import UrlLengthLimit
from fhir_server.bootstrap import build_services
from fhir_server.logs import configure as configure_logging
from fhir_server.notify.delivery import delivery_for
from fhir_server.notify.worker import OutboxWorker
from fhir_server.settings import Settings
from fhir_server.startup import StartupRefused
from fhir_server.storage.data_dir import check_data_dir
from fhir_server.storage.embedded import EmbeddedServer
from fhir_server.storage.supervisor import EmbeddedSupervisor

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        async with _running(app, settings):
            yield
    except StartupRefused as exc:
        app.state.startup_refused = exc  # the CLI says it in one line (fhir_server.cli.serve)
        raise


@asynccontextmanager
async def _running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    embedded: EmbeddedServer | None = None
    uri = settings.mongodb_uri
    if not uri:
        embedded = EmbeddedServer(
            check_data_dir(settings.data_dir),
            command=settings.embedded_command,
            cache_size=settings.embedded_cache_size,
            start_timeout=settings.embedded_start_timeout,
            sync_on_commit=settings.durable_writes,
        )
        await asyncio.to_thread(embedded.start)
        uri = embedded.uri
        log.info("embedded database ready", extra={"port": embedded.port})
    try:
        services, storage = await build_services(settings, uri)
        app.state.services = services
        app.state.storage = storage
        app.state.outbox_worker = _outbox_worker(services, settings)
        if not settings.auth.jwks:
            log.info(
                "authentication: this server is its own development issuer; get a token with "
                f"`fhir-server token --data {settings.data_dir} [--fhir-user Practitioner/ID]` "
                "and send it as 'Authorization: Bearer <token>'",
                extra={"data_dir": str(settings.data_dir)},
            )
        if embedded is not None:
            app.state.database = EmbeddedSupervisor(
                embedded, settings, on_give_up=lambda: app.state.stop_serving()
            )
            app.state.database.start()
        # What start-up built (the IG, terminology, search definitions: some 200,000
        # objects) lives as long as the server: kept out of the cyclic collector's scans,
        # so a collection during a request walks only what requests allocate (it was most
        # of a dashboard page's slowest latencies: max 186 ms -> 97 ms over 60 pages).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # collectable again once this app is gone (tests build many)
            if app.state.outbox_worker is not None:
                await app.state.outbox_worker.stop()
            if services.directory is not None:
                await services.directory.aclose()
            if app.state.database is not None:
                await app.state.database.stop()
            await storage.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def _outbox_worker(services: Any, settings: Settings) -> OutboxWorker | None:
    """The worker delivering notification e-mails after commit (``fhir_server.notify``)."""
    notifier = services.notifier
    if notifier is None:
        return None
    notify = settings.notify
    delivery = delivery_for(
        notify.smtp_url, notify.mail_from, notify.smtp_timeout_seconds, settings.data_dir
    )
    worker = OutboxWorker(notifier.outbox, delivery, notify)
    notifier.poke = worker.poke
    worker.start()
    return worker


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    app = FastAPI(
        title="MRTC coordination FHIR server",
        version=__version__,
        lifespan=lifespan,
        docs_url="/_docs",
        redoc_url=None,
        openapi_url="/_openapi.json",
        telemetry={
            "tracing": settings.telemetry,
            "metrics": settings.telemetry,
            "logs": settings.telemetry,
        },
    )
    app.state.settings = settings
    app.state.outbox_worker = None  # delivers notification e-mails (fhir_server.notify)
    app.state.database = None  # the EmbeddedSupervisor, when the database is embedded
    app.state.stop_serving = lambda: None  # the server cannot go on (set by the CLI)
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes)
    app.add_middleware(UrlLengthLimit, max_bytes=settings.max_url_bytes)
    app.add_middleware(DatabaseGate)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(router)
    app.include_router(wellknown.router)
    app.router.routes.append(Route("/{path:path}", fhir_endpoint, methods=FHIR_METHODS))
    return app
