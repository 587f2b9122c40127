"""The request pipeline: every FHIR request, direct or in a bundle, passes here.

``handle`` is the single place where the access policy sees a request before
it runs (read, search, write, operation and each bundle entry alike), and
where storage failures become FHIR errors. The HTTP layer and bundle
processing both call it with a ``FhirRequest`` from ``routing.resolve``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pymongo.errors import (
    ConnectionFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from fhir_server.errors import DatabaseUnavailable, FhirError, InvalidRequest
from fhir_server.interactions import (
    bundle,
    capabilities,
    create,
    delete,
    history,
    patch,
    read,
    search,
    update,
    vread,
)
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.resources.conformance import check_writable

Handler = Callable[[Context, FhirRequest], Awaitable[Outcome]]


def _need(req: FhirRequest) -> tuple[str, str]:
    assert req.type is not None and req.id is not None
    return req.type, req.id


async def _search(ctx: Context, req: FhirRequest) -> Outcome:
    params = list(req.params)
    if isinstance(req.body, list):  # POST _search with a form body
        params.extend(req.body)
    return Outcome(200, await search.search(ctx, req.type, params, strict=req.strict))


async def _create(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type is not None
    return await create.create(
        ctx,
        req.type,
        req.body,
        if_none_exist=req.if_none_exist,
        assigned_id=req.assigned_id,
        condition_checked=req.condition_resolved,
    )


def _query(req: FhirRequest) -> str:
    if not req.query_string:
        raise InvalidRequest(
            f"{req.method} [type] without an id needs search criteria", msg_id="MRTC-REST-008"
        )
    return req.query_string


HANDLERS: dict[str, Handler] = {
    "capabilities": lambda ctx, req: capabilities.capabilities(ctx, req.params),
    "read": lambda ctx, req: read.read(
        ctx, *_need(req), if_none_match=req.if_none_match, if_modified_since=req.if_modified_since
    ),
    "vread": lambda ctx, req: vread.vread(ctx, *_need(req), req.vid or 0),
    "create": _create,
    "update": lambda ctx, req: update.update(ctx, *_need(req), req.body, if_match=req.if_match),
    "conditional-update": lambda ctx, req: update.conditional_update(
        ctx, req.type or "", _query(req), req.body, if_match=req.if_match
    ),
    "patch": lambda ctx, req: patch.patch(
        ctx, *_need(req), req.body, content_type=req.content_type, if_match=req.if_match
    ),
    "conditional-patch": lambda ctx, req: patch.conditional_patch(
        ctx,
        req.type or "",
        _query(req),
        req.body,
        content_type=req.content_type,
        if_match=req.if_match,
    ),
    "delete": lambda ctx, req: delete.delete(ctx, *_need(req), if_match=req.if_match),
    "conditional-delete": lambda ctx, req: delete.conditional_delete(
        ctx, req.type or "", _query(req)
    ),
    "history-instance": lambda ctx, req: history.history(
        ctx, req.type, req.id, req.params, strict=req.strict
    ),
    "history-type": lambda ctx, req: history.history(
        ctx, req.type, None, req.params, strict=req.strict
    ),
    "history-system": lambda ctx, req: history.history(
        ctx, None, None, req.params, strict=req.strict
    ),
    "search-type": _search,
    "search-system": _search,
    "bundle": lambda ctx, req: bundle.process(ctx, req),
    "operation": lambda ctx, req: ctx.services.operations.invoke(ctx, req),
}


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    """Authorise, run and translate storage failures for one FHIR request."""
    services = ctx.services
    if services.policy is not None:
        await services.policy.authorize(ctx, req)
    check_writable(services.read_only, req.interaction, req.type, req.id)
    try:
        return await HANDLERS[req.interaction](ctx, req)
    except FhirError:
        raise
    except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
        raise DatabaseUnavailable(
            "The database is unreachable; try again later",
            headers={"Retry-After": str(ctx.settings.db_retry_after)},
            msg_id="MRTC-REST-503",
        ) from exc
    except (WTimeoutError, WriteConcernError) as exc:  # no majority journaled it in time
        raise DatabaseUnavailable(
            "The write was not confirmed durable in time; read before retrying",
            headers={"Retry-After": str(ctx.settings.db_retry_after)},
            msg_id="MRTC-DB-003",
        ) from exc
