"""``create_app()``: the HTTP app and the lifespan that owns the database and services.

Start-up opens the database (the configured MongoDB, or the embedded server
started as a child process) and builds the services (``bootstrap``);
shutdown closes the client and stops the embedded server. ``fhir-server
serve`` and the tests build the server with this same function.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Route

from fhir_server import __version__
from fhir_server.api import wellknown
from fhir_server.api.middleware import RequestIdMiddleware
from fhir_server.api.routes import FHIR_METHODS, fhir_endpoint, router
from fhir_server.bootstrap import build_services
from fhir_server.logs import configure as configure_logging
from fhir_server.settings import Settings
from fhir_server.storage.embedded import EmbeddedServer

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    embedded: EmbeddedServer | None = None
    uri = settings.mongodb_uri
    if not uri:
        embedded = EmbeddedServer(
            settings.data_dir,
            command=settings.embedded_command,
            cache_size=settings.embedded_cache_size,
            start_timeout=settings.embedded_start_timeout,
        )
        await asyncio.to_thread(embedded.start)
        uri = embedded.uri
        log.info("embedded database ready", extra={"port": embedded.port})
    try:
        services, storage = await build_services(settings, uri)
        app.state.services = services
        app.state.storage = storage
        if not settings.auth.jwks:
            log.info(
                "authentication: this server is its own development issuer; get a token with "
                f"`fhir-server token --data {settings.data_dir} [--fhir-user Practitioner/ID]` "
                "and send it as 'Authorization: Bearer <token>'",
                extra={"data_dir": str(settings.data_dir)},
            )
        try:
            yield
        finally:
            await storage.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


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
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(router)
    app.include_router(wellknown.router)
    app.router.routes.append(Route("/{path:path}", fhir_endpoint, methods=FHIR_METHODS))
    return app
