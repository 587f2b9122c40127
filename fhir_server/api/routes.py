"""The HTTP entry point: every FHIR URL lands in ``fhir_endpoint``.

Which interaction a URL names is decided by the one route table in
``interactions.routing`` (shared with bundle entries); this module only
moves data between HTTP and a ``FhirRequest``: body, conditional headers,
Prefer, format. ``/healthz`` and ``/readyz`` serve operators.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from fhir_server.api.availability import unavailable
from fhir_server.api.errors import error_response
from fhir_server.api.formats import error_type
from fhir_server.api.negotiation import parse_body, read_body, response_media_type
from fhir_server.api.responses import prefer_handling, prefer_return, render
from fhir_server.errors import DatabaseUnavailable, FhirError
from fhir_server.interactions.context import Context
from fhir_server.interactions.dispatch import handle
from fhir_server.interactions.routing import resolve
from fhir_server.interactions.services import Services
from fhir_server.logs import request_id_var

router = APIRouter()
WRITE_METHODS = {"POST", "PUT", "PATCH"}
WRITE_INTERACTIONS = {
    "create",
    "update",
    "patch",
    "conditional-update",
    "conditional-patch",
}
FORMAT_PARAMS = {"_format", "_pretty"}


def base_url(request: Request, services: Services) -> str:
    configured = services.settings.base_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> Response:
    """Liveness: 503 while the embedded database is down or has been given up on, so
    that a process supervisor sees what clients see. An external database's outages
    are /readyz's business: restarting this server would not cure them."""
    database = request.app.state.database
    if database is not None and not database.available:
        return error_response(unavailable(database, request.app.state.settings.db_retry_after))
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.repository.ping()
    except Exception:  # any failure means "not ready"
        return error_response(
            DatabaseUnavailable("The database is unreachable", msg_id="MRTC-REST-503")
        )
    return JSONResponse({"status": "ready"})


FHIR_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


async def fhir_endpoint(request: Request) -> Response:
    """Every FHIR URL. A plain Starlette endpoint: FastAPI's dependency machinery
    would cost CPU on the hottest path and has nothing to inject here."""
    pretty = request.query_params.get("_pretty") == "true"
    try:
        return await _serve(request, request.path_params["path"], pretty)
    except FhirError as exc:
        return error_response(exc, pretty=pretty, media_type=error_type(request))
    except Exception as exc:  # the last line of defence: never leak a stack trace
        return error_response(exc, pretty=pretty, media_type=error_type(request))


async def _serve(request: Request, path: str, pretty: bool) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    method = request.method
    req = resolve("GET" if method == "HEAD" else method, path, request.url.query)
    media_type = response_media_type(request, services.operations.produces(req))
    req.response_type = media_type
    req.params = [(k, v) for k, v in req.params if k not in FORMAT_PARAMS]
    headers = request.headers
    base = base_url(request, services)
    # Who is asking, before any body is read: only the CapabilityStatement is public.
    principal = (
        None
        if req.interaction == "capabilities"
        else await services.policy.authenticate(headers.get("authorization"), base)
    )
    if method in WRITE_METHODS:
        content_type = headers.get("content-type", "")
        req.content_type = content_type
        req.body = parse_body(
            await read_body(request, settings.max_body_bytes),
            content_type,
            method,
            interaction=req.interaction,
            max_depth=settings.max_depth,
        )
    req.if_match = headers.get("if-match")
    req.if_none_match = headers.get("if-none-match")
    req.if_none_exist = headers.get("if-none-exist")
    req.if_modified_since = headers.get("if-modified-since")
    prefer = headers.get("prefer")
    req.prefer_return = prefer_return(prefer)
    req.prefer_handling = prefer_handling(prefer)
    ctx = await Context.for_principal(
        services,
        base,
        principal,
        request_id=request_id_var.get(),
        source=request.client.host if request.client else "",
    )
    outcome = await handle(ctx, req)
    return render(
        outcome,
        base_url=base,
        media_type=media_type,
        pretty=pretty,
        prefer=req.prefer_return,
        is_write=req.interaction in WRITE_INTERACTIONS,
        committed=method not in ("GET", "HEAD"),
    )
