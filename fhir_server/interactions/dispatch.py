"""The request pipeline: every FHIR request, direct or in a bundle, passes here.

``handle`` is the single place where the access policy sees a request before
it runs (read, search, write, operation and each bundle entry alike), and
where the implementation guide's resources are protected from change. The
HTTP layer and bundle processing both call it with a ``FhirRequest`` from
``routing.resolve``; bundles receive it back as their entry handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fhir_server.errors import FhirError, InvalidRequest, MethodNotAllowed
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
from fhir_server.security.policy import AccessRequest

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
    "bundle": lambda ctx, req: bundle.process(ctx, req, handle),
    "operation": lambda ctx, req: ctx.services.operations.invoke(ctx, req),
}
# Interactions that change a resource named by its id: refused on the IG's own resources.
_CHANGES = frozenset(
    {"update", "patch", "delete", "conditional-update", "conditional-patch", "conditional-delete"}
)


# Answered here by the audit trail; writes are audited in their own transaction (write hooks).
_NOT_AUDITED = frozenset({"capabilities", "bundle"})
_WRITES = frozenset({*_CHANGES, "create"})


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    """Authorise, run and audit one FHIR request (direct or a bundle entry)."""
    services = ctx.services
    if ctx.scope.transaction is None:  # a bundle's entries run with the state it started with
        await services.shared_state.refresh_if_due()
    try:
        await services.policy.authorize(
            ctx.principal,
            AccessRequest(req.interaction, req.method, req.type, req.id, req.operation),
        )
        if req.interaction in _CHANGES and req.type and req.id:
            _check_writable(services.ig.read_only, req.type, req.id)
        outcome = await HANDLERS[req.interaction](ctx, req)
    except FhirError as exc:
        await _audit(ctx, req, exc.status, None, exc.message)
        raise
    if req.interaction not in _WRITES and req.operation not in _SELF_AUDITED:
        await _audit(ctx, req, outcome.status, outcome.body, None)
    return outcome


# Operations that write their own AuditEvent (break-glass records the grant itself).
_SELF_AUDITED = frozenset({"break-glass"})


async def _audit(
    ctx: Context, req: FhirRequest, status: int, body: object, error: str | None
) -> None:
    """One AuditEvent for an answered (or refused) request of an authenticated caller."""
    trail = ctx.services.audit
    if trail is None or ctx.principal is None or req.interaction in _NOT_AUDITED:
        return
    if not trail.concerns(req.type) and status < 400:
        return
    await trail.access(
        ctx.principal,
        interaction=req.interaction,
        type_=req.type,
        id_=req.id,
        operation=req.operation,
        query=req.query_string,
        status=status,
        body=body,
        btg_patients=ctx.actor().break_glass,
        scope=ctx.scope,
        source=ctx.source,
        request_id=ctx.request_id,
        error=error,
    )


def _check_writable(read_only: frozenset[tuple[str, str]], type_: str, id_: str) -> None:
    """Refuse REST changes to the implementation guide's own resources (405)."""
    if (type_, id_) in read_only:
        raise MethodNotAllowed(
            f"{type_}/{id_} belongs to the implementation guide and is read-only",
            headers={"Allow": "GET"},
            msg_id="MRTC-IG-001",
        )
