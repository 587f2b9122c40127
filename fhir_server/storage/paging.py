"""Keyset pages on one collection: after (or before) an anchor, in sort order.

A page is read with a filter that is a flat superset of "after the anchor"
(one range on the first sort key), then cut exactly in Python, so the
embedded planner can serve it from an index. Residual predicates (criteria
the filter only approximates) drop documents after the fetch; the loop
fetches further until the page is full or a scan budget is spent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from fhir_server.errors import InvalidRequest
from fhir_server.search.paging import Cursor, id_bound, id_number
from fhir_server.storage.query import Env, Query, and_filters, visible
from fhir_server.storage.sorted_paging import fetch_windowed_page, windowed_key

log = logging.getLogger(__name__)


def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def sort_key(doc: dict[str, Any], sort: Sequence[tuple[str, int]]) -> tuple[Any, ...]:
    return tuple(_get(doc, f) for f, _ in sort)


def _bson_rank(v: Any) -> int:
    """MongoDB's order between values of different types (null, numbers, strings, ...)."""
    if v is None:
        return 0
    if isinstance(v, bool):
        return 8
    if isinstance(v, int | float):
        return 1
    if isinstance(v, str):
        return 2
    if isinstance(v, datetime):
        return 9
    return 3


def _wrap(v: Any) -> tuple[int, Any]:
    # Mirror MongoDB's ordering (null/missing first, then by type) for cursor comparisons.
    return (0, 0) if v is None else (_bson_rank(v), v)


def is_after(key: Sequence[Any], anchor: Sequence[Any], sort: Sequence[tuple[str, int]]) -> bool:
    """Is ``key`` strictly after ``anchor`` in the sort order?"""
    for k, a, (_, direction) in zip(key, anchor, sort, strict=True):
        wk, wa = _wrap(k), _wrap(a)
        if wk == wa:
            continue
        try:
            return (wk > wa) if direction == ASCENDING else (wk < wa)
        except TypeError:  # same rank, incomparable values (dicts): keep them apart stably
            return (str(wk) > str(wa)) if direction == ASCENDING else (str(wk) < str(wa))
    return False


def _anchor_filter(sort: Sequence[tuple[str, int]], anchor: Sequence[Any]) -> dict[str, Any]:
    """A superset condition for "after the anchor" on the first sort key (one flat range)."""
    field_, direction = sort[0]
    value = anchor[0]
    if field_ == "_id":
        return {"_id": {"$gt" if direction == ASCENDING else "$lt": value}}
    if value is None:
        return {} if direction == ASCENDING else {field_: None}
    return {field_: {"$gte" if direction == ASCENDING else "$lte": value}}


def reverse(sort: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(f, -d) for f, d in sort]


async def fetch_page(
    env: Env, q: Query, count: int, cursor: Cursor | None
) -> tuple[list[dict[str, Any]], bool]:
    """One page in sort order and whether more exist in the paging direction.

    Going backwards, the sort is reversed, the page fetched after the anchor,
    and the result put back in order.
    """
    if q.matches_nothing or count == 0:
        return [], False
    if (
        cursor is not None
        and cursor.forward
        and cursor.window
        and q.sort == [("_id", ASCENDING)]
        and "_id" not in q.filter
        and env.settings.windowed_paging
    ):
        return await _windowed_page(env, q, count, cursor)
    sort = q.sort if cursor is None or cursor.forward else reverse(q.sort)
    anchor: tuple[Any, ...] | None = None
    if cursor is not None:
        anchor = (*cursor.keys, cursor.id)
        if len(anchor) != len(sort):
            raise InvalidRequest(
                "The paging cursor does not match this search's sort", msg_id="MRTC-SRCH-041"
            )
    key = windowed_key(env, q)
    if key is not None:
        got = await fetch_windowed_page(env, q, key, count, cursor, sort)
        if got is not None:
            page, more, width = got
            for d in page[:1] + page[-1:]:
                d["_w"] = width  # the next cursors' window width (storage.search)
            if cursor is not None and not cursor.forward:
                page.reverse()
            return page, more
    coll = env.db[q.type_]
    wanted = count + 1
    # a little slack absorbs deleted documents; predicates need more
    batch = wanted + 5 if not (q.tests or q.follows) else max(wanted * 2, 50)
    out: list[dict[str, Any]] = []
    scanned = 0
    while True:
        filt = q.filter if anchor is None else and_filters(q.filter, _anchor_filter(sort, anchor))
        docs = await coll.find(
            filt, q.projection, sort=sort, limit=batch, session=env.session
        ).to_list()
        scanned += len(docs)
        candidates = [
            d
            for d in docs
            if (anchor is None or is_after(sort_key(d, sort), anchor, sort))
            and not d.get("del")
            and all(t(d) for t in q.tests)
        ]
        out += (await visible(env, q, candidates))[: wanted - len(out)]
        if len(out) >= wanted or len(docs) < batch:
            break
        if scanned >= env.settings.scan_budget:
            # Stop here: the page is short but the cursor resumes after what was scanned.
            log.info("search on %s stopped after scanning %d documents", q.type_, scanned)
            out.append(docs[-1] | {"_scan_stop": True})
            break
        anchor = sort_key(docs[-1], sort)
        batch = min(batch * 2, 1000)
    more = len(out) > count
    page = out[:count]
    if more and out[count].get("_scan_stop"):
        page = [d for d in page if not d.get("_scan_stop")]
    if cursor is not None and not cursor.forward:
        page.reverse()
    return page, more


async def _windowed_page(
    env: Env, q: Query, count: int, cursor: Cursor
) -> tuple[list[dict[str, Any]], bool]:
    """A next page in id order, read through id windows of about one page each.

    SecantusDB materialises every document of a range before ``limit``, so a
    plain ``{field: x, _id: {$gt: cursor}}`` costs the whole rest of the
    result on every page. Bounding ``_id`` above by a window sized from the
    previous page's id span (``paging.window_for``) keeps each page to about
    its own documents; an empty window widens (x4), an overfull one narrows.
    The result is the same as the plain query's.
    """
    wanted = count + 1
    batch = wanted + 5 if not (q.tests or q.follows) else max(wanted * 2, 50)
    width = cursor.window
    low, low_op = cursor.id, "$gt"
    out: list[dict[str, Any]] = []
    for _ in range(64):
        upper = id_bound(id_number(low) + max(1, width))
        rng: dict[str, Any] = {low_op: low}
        if upper is not None:
            rng["$lt"] = upper
        docs = (
            await env.db[q.type_]
            .find(
                {**q.filter, "_id": rng},
                q.projection,
                sort=[("_id", ASCENDING)],
                limit=batch,
                session=env.session,
            )
            .to_list()
        )
        candidates = [d for d in docs if not d.get("del") and all(t(d) for t in q.tests)]
        out += (await visible(env, q, candidates))[: wanted - len(out)]
        if len(out) >= wanted or upper is None:
            break
        if len(docs) == batch:  # more in this window than a batch: continue inside it
            low, low_op, width = docs[-1]["_id"], "$gt", max(1, width // 2)
        else:
            low, low_op, width = upper, "$gte", width * 4
    else:  # pathological id distribution: finish without a window
        rest = await fetch_page(
            env, q, wanted - len(out), Cursor((), out[-1]["_id"] if out else low, True)
        )
        out += rest[0]
        return out[:count], len(out) > count or rest[1]
    return out[:count], len(out) > count
