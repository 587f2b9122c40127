"""search — ``GET/POST [base]/[type]?...`` and ``[base]?_type=...`` (FHIR R4, http.html#search).

HTTP-free: the API layer passes the query items (from the URL or a
form-encoded ``_search`` body); this module parses them once into a typed
``SearchRequest`` (``search.request``), asks the repository for the page
(storage runs the query, the includes and the count, with the caller's
restriction), and turns the typed hits into a searchset Bundle with absolute
paging links. Also the entry point of the conditional interactions
(``find_matches``, always strict).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fhir_server.errors import InvalidRequest
from fhir_server.interactions.context import Context
from fhir_server.resource_types import require_type
from fhir_server.search.paging import Cursor, search_url
from fhir_server.search.request import Clause, SearchRequest, parse_search
from fhir_server.search.summary import shape
from fhir_server.storage.repository import StoredResource


def parse(
    ctx: Context, type_: str | None, params: list[tuple[str, str]], *, strict: bool
) -> SearchRequest:
    settings = ctx.settings
    return parse_search(
        ctx.search_params,
        type_,
        params,
        settings=settings.search,
        default_count=settings.default_count,
        max_count=settings.max_count,
        strict=strict,
        base_url=ctx.base_url,
    )


async def search(
    ctx: Context, type_: str | None, params: list[tuple[str, str]], *, strict: bool = False
) -> dict[str, Any]:
    """Run a search and return the searchset Bundle (links absolute, cursor-paged)."""
    if type_ is not None:
        require_type(type_)
    req = parse(ctx, type_, params, strict=strict)
    result = await ctx.services.repository.search(req, ctx.scope)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    self_params = req.self_params()
    current = Cursor.decode(req.page) if req.page else None
    links = [{"relation": "self", "url": search_url(ctx.base_url, req.type_, self_params, current)}]
    if result.next is not None:
        links.append(
            {
                "relation": "next",
                "url": search_url(ctx.base_url, req.type_, self_params, result.next),
            }
        )
    if result.previous is not None:
        links.append(
            {
                "relation": "previous",
                "url": search_url(ctx.base_url, req.type_, self_params, result.previous),
            }
        )
    bundle["link"] = links
    entries = [_entry(ctx, req, hit, "match") for hit in result.matches]
    entries += [_entry(ctx, req, hit, "include") for hit in result.included]
    if req.ignored:
        entries.append(_outcome_entry(req))
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(ctx: Context, req: SearchRequest, hit: StoredResource, mode: str) -> dict[str, Any]:
    resource = hit.resource or {}
    if req.summary or req.elements:
        resource = shape(
            resource, req.summary, req.elements, ctx.search_params.summary_elements(hit.type)
        )
    return {
        "fullUrl": f"{ctx.base_url}/{hit.type}/{hit.id}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _outcome_entry(req: SearchRequest) -> dict[str, Any]:
    issues = [
        {
            "severity": "warning",
            "code": "not-supported",
            "details": {
                "coding": [{"system": "urn:mrtc-fhir:message-id", "code": "MRTC-SRCH-004"}],
                "text": why,
            },
            "diagnostics": f"Parameter '{name}' was ignored: {why}",
        }
        for name, why in req.ignored
    ]
    return {
        "resource": {"resourceType": "OperationOutcome", "issue": issues},
        "search": {"mode": "outcome"},
    }


def parse_condition(ctx: Context, type_: str, query: str) -> list[Clause]:
    """The criteria of a conditional interaction (``If-None-Exist``, ``PUT [type]?...``).

    Strict by necessity: ignoring an unknown parameter would widen the match
    and let a conditional update or delete hit resources it was never meant
    to; and a condition without criteria would match everything (or, for a
    create, nothing), so it is refused.
    """
    items = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    req = parse(ctx, type_, items, strict=True)
    if not req.clauses:
        raise InvalidRequest(
            "A conditional interaction needs at least one search criterion",
            msg_id="MRTC-SRCH-071",
        )
    return req.clauses


async def find_matches(ctx: Context, type_: str, query: str) -> list[StoredResource]:
    """Current, non-deleted resources matching a conditional interaction's criteria."""
    clauses = parse_condition(ctx, type_, query)
    return await ctx.services.repository.find(
        type_, clauses, ctx.settings.max_count, ctx.scope, base_url=ctx.base_url
    )
