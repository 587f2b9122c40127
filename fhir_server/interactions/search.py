"""search: ``GET/POST [base]/[type]?...`` and ``[base]?_type=...`` (FHIR R4, http.html#search).

HTTP-free: the API layer passes the query items (from the URL or a
form-encoded ``_search`` body) and gets back a searchset Bundle as a plain
dict. Also the entry points of the conditional interactions
(``find_matches``, always strict) and of reindexing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pymongo import UpdateOne

from fhir_server.errors import InvalidRequest, UnsupportedParameter
from fhir_server.resources.types import require_type
from fhir_server.search.includes import resolve_includes
from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.paging import Cursor, search_url, window_for
from fhir_server.search.request import SearchRequest, parse_search
from fhir_server.search.summary import shape
from fhir_server.storage import search_query
from fhir_server.storage.documents import StoredResource, from_current

if TYPE_CHECKING:
    from fhir_server.interactions.context import Context


def _parse(
    ctx: Context, type_: str | None, params: list[tuple[str, str]], strict: bool
) -> SearchRequest:
    return parse_search(
        ctx.search_params,
        type_,
        params,
        default_count=ctx.settings.default_count,
        max_count=ctx.settings.max_count,
        strict=strict,
    )


async def search(
    ctx: Context, type_: str | None, params: list[tuple[str, str]], *, strict: bool = False
) -> dict[str, Any]:
    """Run a search and return the searchset Bundle (links absolute, cursor-paged)."""
    if type_ is not None:
        require_type(type_)
    req = _parse(ctx, type_, params, strict)
    if len(req.types) > 1 and req.sort:
        raise UnsupportedParameter(
            "_sort is supported only when searching a single resource type",
            msg_id="MRTC-SRCH-070",
        )
    cursor = Cursor.decode(req.page) if req.page else None
    count = 0 if req.summary == "count" else req.count
    matches, more = await _page(ctx, req, count, cursor)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    total = await _total(ctx, req, cursor, matches, more)
    if total is not None:
        bundle["total"] = total
    bundle["link"] = _links(ctx, req, cursor, matches, more)
    entries = [_entry(ctx, req, t, d, "match") for t, d in matches]
    if matches and (req.include or req.revinclude):
        included = await resolve_includes(ctx, matches, req.include, req.revinclude)
        entries += [_entry(ctx, req, t, d, "include") for t, d in included]
    if req.ignored:
        entries.append(_outcome_entry(req))
    if entries:
        bundle["entry"] = entries
    return bundle


async def _page(
    ctx: Context, req: SearchRequest, count: int, cursor: Cursor | None
) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """One page; for several types, types are walked in order, each by id."""
    start = cursor.type_index if cursor else 0
    if start >= len(req.types):
        raise InvalidRequest("The paging cursor is invalid or expired", msg_id="MRTC-SRCH-040")
    if cursor is not None and not cursor.forward and len(req.types) > 1:
        return await _page_back_multi(ctx, req, count, cursor)
    out: list[tuple[str, dict[str, Any]]] = []
    more = False
    for i in range(start, len(req.types)):
        type_ = req.types[i]
        q = await search_query.compile_query(ctx, type_, req.clauses, req.sort)
        q.with_index = bool(req.include or req.revinclude)
        page, more_here = await search_query.fetch_page(
            ctx, q, count - len(out), cursor if i == start else None
        )
        out += [(type_, d) for d in page]
        if more_here:
            more = True
            break
        if len(out) >= count:
            more = await _any_after(ctx, req, i + 1) if count else False
            break
    return out, more


async def _any_after(ctx: Context, req: SearchRequest, first: int) -> bool:
    for type_ in req.types[first:]:
        q = await search_query.compile_query(ctx, type_, req.clauses, req.sort)
        if (await search_query.fetch_page(ctx, q, 1, None))[0]:
            return True
    return False


async def _page_back_multi(
    ctx: Context, req: SearchRequest, count: int, cursor: Cursor
) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """Previous page of a multi-type search: walk the types backwards from the anchor."""
    out: list[tuple[str, dict[str, Any]]] = []
    more = False
    for i in range(cursor.type_index, -1, -1):
        type_ = req.types[i]
        q = await search_query.compile_query(ctx, type_, req.clauses, req.sort)
        q.with_index = bool(req.include or req.revinclude)
        anchor = cursor if i == cursor.type_index else None
        if anchor is None:
            # the whole type precedes the anchor: take its last ids
            q.sort = [(f, -d) for f, d in q.sort]
            page, more_here = await search_query.fetch_page(ctx, q, count - len(out), None)
            page.reverse()
        else:
            page, more_here = await search_query.fetch_page(ctx, q, count - len(out), anchor)
        out = [(type_, d) for d in page] + out
        if more_here or len(out) >= count:
            more = more_here or i > 0
            break
    return out, more


async def _total(
    ctx: Context,
    req: SearchRequest,
    cursor: Cursor | None,
    matches: list[tuple[str, dict[str, Any]]],
    more: bool,
) -> int | None:
    """``_total``: counted only when asked (``accurate``) or known for free."""
    known = cursor is None and not more and req.summary != "count"
    if req.total == "accurate" or req.summary == "count":
        n = 0
        for type_ in req.types:
            q = await search_query.compile_query(ctx, type_, req.clauses)
            n += await search_query.count(ctx, q)
        return n
    if req.total == "estimate" and known:
        return len(matches)
    return None


def _links(
    ctx: Context,
    req: SearchRequest,
    cursor: Cursor | None,
    matches: list[tuple[str, dict[str, Any]]],
    more: bool,
) -> list[dict[str, str]]:
    params = req.self_params()
    links = [{"relation": "self", "url": search_url(ctx.base_url, req.type_, params, cursor)}]
    if req.summary == "count":
        return links
    backwards = cursor is not None and not cursor.forward
    has_next = (more and not backwards) or (backwards and bool(matches))
    has_prev = (cursor is not None and cursor.forward) or (backwards and more)
    if has_next and matches:
        t, d = matches[-1]
        links.append(
            {
                "relation": "next",
                "url": search_url(
                    ctx.base_url,
                    req.type_,
                    params,
                    _cursor_for(ctx, req, t, d, True, _window(req, matches)),
                ),
            }
        )
    if has_prev and matches:
        t, d = matches[0]
        links.append(
            {
                "relation": "previous",
                "url": search_url(
                    ctx.base_url, req.type_, params, _cursor_for(ctx, req, t, d, False)
                ),
            }
        )
    elif has_prev and cursor is not None:
        links.append(
            {
                "relation": "previous",
                "url": search_url(
                    ctx.base_url,
                    req.type_,
                    params,
                    Cursor(cursor.keys, cursor.id, False, cursor.type_index),
                ),
            }
        )
    return links


def _cursor_for(
    ctx: Context,
    req: SearchRequest,
    type_: str,
    doc: dict[str, Any],
    forward: bool,
    window: int = 0,
) -> Cursor:
    sort = search_query.sort_spec(ctx.search_params, type_, req.sort)
    keys = search_query.sort_key(doc, sort)
    return Cursor(tuple(keys[:-1]), doc["_id"], forward, req.types.index(type_), window)


def _window(req: SearchRequest, matches: list[tuple[str, dict[str, Any]]]) -> int:
    """Id-window width for the next page of an id-ordered search (see ``_windowed_page``)."""
    if req.sort:
        return 0
    last_type = matches[-1][0]
    ids = [d["_id"] for t, d in matches if t == last_type]
    return window_for(ids[0], ids[-1], len(ids), req.count + 5)


def _entry(
    ctx: Context, req: SearchRequest, type_: str, doc: dict[str, Any], mode: str
) -> dict[str, Any]:
    resource = doc.get("res") or {}
    if req.summary or req.elements:
        resource = shape(
            resource, req.summary, req.elements, ctx.search_params.summary_elements(type_)
        )
    return {
        "fullUrl": f"{ctx.base_url.rstrip('/')}/{type_}/{doc['_id']}",
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


async def find_matches(ctx: Context, type_: str, query: str) -> list[StoredResource]:
    """Current, non-deleted resources matching a conditional interaction's criteria.

    Strict by necessity: ignoring an unknown parameter would widen the match
    and let a conditional update or delete hit resources it was never meant to.
    """
    items = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    req = _parse(ctx, type_, items, True)
    if not req.clauses:
        raise InvalidRequest(
            "A conditional interaction needs at least one search criterion",
            msg_id="MRTC-SRCH-071",
        )
    q = await search_query.compile_query(ctx, type_, req.clauses)
    docs = await search_query.find_all(ctx, q, ctx.settings.max_count)
    return [from_current(type_, d) for d in docs]


async def reindex(ctx: Context, type_: str | None = None, *, stale_only: bool = False) -> int:
    """Rebuild the ``idx`` of every current resource (of one type or all); returns how many.

    Run after a SearchParameter is added or changed; ``stale_only`` limits it
    to documents stamped with an older ``INDEX_VERSION``.
    """
    registry = ctx.search_params
    n = 0
    for t in [type_] if type_ else list(registry.types):
        filt: dict[str, Any] = {"del": {"$ne": True}}
        if stale_only:
            filt["idxv"] = {"$ne": INDEX_VERSION}
        ops: list[UpdateOne] = []
        async for doc in ctx.db[t].find(filt, {"res": 1, "vid": 1}, session=ctx.session):
            if not doc.get("res"):
                continue
            idx = build_index(registry, t, doc["res"])
            ops.append(
                UpdateOne(
                    {"_id": doc["_id"], "vid": doc["vid"]},
                    {"$set": {"idx": idx, "idxv": INDEX_VERSION}},
                )
            )
            if len(ops) >= 500:
                await ctx.db[t].bulk_write(ops, ordered=False, session=ctx.session)
                n += len(ops)
                ops = []
        if ops:
            await ctx.db[t].bulk_write(ops, ordered=False, session=ctx.session)
            n += len(ops)
    return n
