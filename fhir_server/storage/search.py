"""Search execution: one page of matches across the searched types, includes, totals.

``run_search`` takes a parsed ``SearchRequest`` and the caller's ``Env`` and
returns typed hits plus the cursors of the pages around them. A system
search walks its types in order, each in its own sort order; a cursor
remembers which type it stopped in. ``_total`` is counted only when asked
for (or known for free on a single complete page).
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import InvalidRequest, UnsupportedParameter
from fhir_server.search.paging import Cursor, window_for
from fhir_server.search.request import SearchRequest
from fhir_server.storage.documents import from_current
from fhir_server.storage.includes import resolve_includes
from fhir_server.storage.paging import fetch_page, reverse, sort_key
from fhir_server.storage.query import Env, compile_query, count, sort_spec
from fhir_server.storage.repository import SearchResult

Found = list[tuple[str, dict[str, Any]]]  # (type, stored document)


async def run_search(env: Env, req: SearchRequest) -> SearchResult:
    if len(req.types) > 1 and req.sort:
        raise UnsupportedParameter(
            "_sort is supported only when searching a single resource type",
            msg_id="MRTC-SRCH-070",
        )
    cursor = Cursor.decode(req.page) if req.page else None
    page_size = 0 if req.summary == "count" else req.count
    matches, more = await _page(env, req, page_size, cursor)
    result = SearchResult(matches=[from_current(t, d) for t, d in matches])
    result.total = await _total(env, req, cursor, matches, more)
    if req.summary != "count":
        result.next, result.previous = _neighbours(env, req, cursor, matches, more)
    if matches and (req.include or req.revinclude):
        included = await resolve_includes(env, matches, req.include, req.revinclude)
        result.included = [from_current(t, d) for t, d in included]
    return result


async def _page(
    env: Env, req: SearchRequest, count_: int, cursor: Cursor | None
) -> tuple[Found, bool]:
    """One page; for several types, types are walked in order, each by id."""
    start = cursor.type_index if cursor else 0
    if start >= len(req.types):
        raise InvalidRequest("The paging cursor is invalid or expired", msg_id="MRTC-SRCH-040")
    if cursor is not None and not cursor.forward and len(req.types) > 1:
        return await _page_back_multi(env, req, count_, cursor)
    out: Found = []
    more = False
    for i in range(start, len(req.types)):
        type_ = req.types[i]
        q = await compile_query(env, type_, req.clauses, req.sort)
        q.with_index = bool(req.include or req.revinclude)
        page, more_here = await fetch_page(
            env, q, count_ - len(out), cursor if i == start else None
        )
        out += [(type_, d) for d in page]
        if more_here:
            more = True
            break
        if len(out) >= count_:
            more = await _any_after(env, req, i + 1) if count_ else False
            break
    return out, more


async def _any_after(env: Env, req: SearchRequest, first: int) -> bool:
    for type_ in req.types[first:]:
        q = await compile_query(env, type_, req.clauses, req.sort)
        if (await fetch_page(env, q, 1, None))[0]:
            return True
    return False


async def _page_back_multi(
    env: Env, req: SearchRequest, count_: int, cursor: Cursor
) -> tuple[Found, bool]:
    """Previous page of a multi-type search: walk the types backwards from the anchor."""
    out: Found = []
    more = False
    for i in range(cursor.type_index, -1, -1):
        type_ = req.types[i]
        q = await compile_query(env, type_, req.clauses, req.sort)
        q.with_index = bool(req.include or req.revinclude)
        anchor = cursor if i == cursor.type_index else None
        if anchor is None:
            # the whole type precedes the anchor: take its last ids
            q.sort = reverse(q.sort)
            page, more_here = await fetch_page(env, q, count_ - len(out), None)
            page.reverse()
        else:
            page, more_here = await fetch_page(env, q, count_ - len(out), anchor)
        out = [(type_, d) for d in page] + out
        if more_here or len(out) >= count_:
            more = more_here or i > 0
            break
    return out, more


async def _total(
    env: Env, req: SearchRequest, cursor: Cursor | None, matches: Found, more: bool
) -> int | None:
    """``_total``: counted only when asked (``accurate``) or known for free."""
    known = cursor is None and not more and req.summary != "count"
    if req.total == "accurate" or req.summary == "count":
        n = 0
        for type_ in req.types:
            n += await count(env, await compile_query(env, type_, req.clauses))
        return n
    if req.total == "estimate" and known:
        return len(matches)
    return None


def _neighbours(
    env: Env, req: SearchRequest, cursor: Cursor | None, matches: Found, more: bool
) -> tuple[Cursor | None, Cursor | None]:
    """The cursors of the next and previous pages (None where there is none)."""
    backwards = cursor is not None and not cursor.forward
    has_next = (more and not backwards) or (backwards and bool(matches))
    has_prev = (cursor is not None and cursor.forward) or (backwards and more)
    following: Cursor | None = None
    preceding: Cursor | None = None
    if has_next and matches:
        t, d = matches[-1]
        following = _cursor_for(env, req, t, d, True, _window(req, matches))
    if has_prev and matches:
        t, d = matches[0]
        preceding = _cursor_for(env, req, t, d, False, int(d.get("_w", 0)) if req.sort else 0)
    elif has_prev and cursor is not None:
        preceding = Cursor(cursor.keys, cursor.id, False, cursor.type_index)
    return following, preceding


def _cursor_for(
    env: Env, req: SearchRequest, type_: str, doc: dict[str, Any], forward: bool, window: int = 0
) -> Cursor:
    sort = sort_spec(env.registry, type_, req.sort)
    keys = sort_key(doc, sort)
    return Cursor(tuple(keys[:-1]), doc["_id"], forward, req.types.index(type_), window)


def _window(req: SearchRequest, matches: Found) -> int:
    """Window width for the next page: ids (``storage.paging``) or sort key (``sorted_paging``)."""
    if req.sort:
        return int(matches[-1][1].get("_w", 0))
    last_type = matches[-1][0]
    ids = [d["_id"] for t, d in matches if t == last_type]
    # the density at the end of the page, where the next one starts, unless the whole page
    # is denser: a page that straddles a gap in the ids (server ids are hexadecimal, so
    # "9..." and "a..." are far apart as id numbers) would otherwise make the next window
    # wide enough to read far more than a page; one too narrow costs an empty window
    tail = ids[-max(3, len(ids) // 4) :]
    return min(
        window_for(ids[0], ids[-1], len(ids), req.count + 5),
        window_for(tail[0], tail[-1], len(tail), req.count + 5),
    )
