"""Keyset pages on one collection: after (or before) an anchor, in sort order.

A page is read with a filter that is a flat superset of "after the anchor"
(one range on the first sort key), then cut exactly in Python, so the
embedded planner can serve it from an index. Residual predicates (criteria
the filter only approximates) drop documents after the fetch; the loop
fetches further until the page is full or a scan budget is spent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING

from fhir_server.errors import InvalidRequest
from fhir_server.search.paging import Cursor, id_bound, id_number
from fhir_server.storage.documents import dotted
from fhir_server.storage.query import FETCH_FIELDS, Env, Query, and_filters, visible
from fhir_server.storage.sorted_paging import fetch_windowed_page, windowed_key

log = logging.getLogger(__name__)


def sort_key(doc: dict[str, Any], sort: Sequence[tuple[str, int]]) -> tuple[Any, ...]:
    return tuple(dotted(doc, f) for f, _ in sort)


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
    if (
        cursor is None
        and q.sort == [("_id", ASCENDING)]
        and "_id" not in q.filter
        and env.settings.windowed_paging
    ):
        first = await _first_window(env, q, count)
        if first is not None:
            return await _windowed_page(env, q, count, first, _end_key(env, q, count))
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


# First pages in id order are read through id windows too once a collection holds more
# than this many documents (below it, one plain query costs less than a window round trip).
FIRST_WINDOW_MIN_DOCS = 500
# Below every FHIR id ([A-Za-z0-9\-.]): where a first page's windows start. The first
# window reaches past "0" by the share of the hexadecimal range ("0".."f", the first
# character of the UUIDs the server assigns) a page should hold: too narrow a guess costs
# a few empty windows (they widen x4), too wide a one materialises its whole range.
_BELOW_IDS = ","
_HEX_START = id_number("0")
_HEX_SPAN = id_number("g") - _HEX_START
# Estimated collection sizes (the count command reads the collection on the embedded
# database): refreshed at most every _SIZE_SECONDS per collection and process.
_SIZE_SECONDS = 60.0
_sizes: dict[tuple[str, str], tuple[float, int]] = {}


async def _first_window(env: Env, q: Query, count: int) -> Cursor | None:
    """A synthetic cursor that reads a first page in id order through id windows.

    The same planner behaviour as deep pages (see ``_windowed_page``): without
    a bound on ``_id``, the first page of ``{status: active}`` materialises
    every active resource. The window loop corrects a bad first guess.
    """
    total = await _estimated_size(env, q.type_)
    if total <= FIRST_WINDOW_MIN_DOCS or count == 0:
        return None
    end = _ends.get(_end_key(env, q, count))
    if end is not None and end[0] > time.monotonic():
        # the same first page was read lately: reach just past where it ended
        width = id_number(end[1]) + 1 - id_number(_BELOW_IDS)
    else:
        width = _HEX_START - id_number(_BELOW_IDS) + max(1, _HEX_SPAN * (count + 5) // total)
    return Cursor((), _BELOW_IDS, True, 0, width)


# First pages asked again and again (a dashboard's default page, a saved filter): the id
# just past the last one read (the page's extra document), per collection, filter and page
# size, so the next first window reaches exactly there instead of guessing from the
# collection's size (server-assigned ids are not spread evenly over the id numbers, so a
# guess reads several pages' worth). A stale entry costs one more window, never a row.
_ENDS_MAX = 512
_ends: dict[tuple[str, str, str, int], tuple[float, str]] = {}


def _end_key(env: Env, q: Query, count: int) -> tuple[str, str, str, int]:
    return (env.db.name, q.type_, repr(q.filter), count)


def _remember_end(key: tuple[str, str, str, int], last_id: str) -> None:
    if len(_ends) >= _ENDS_MAX:
        _ends.clear()
    _ends[key] = (time.monotonic() + _SIZE_SECONDS, last_id)


async def _estimated_size(env: Env, type_: str) -> int:
    key = (env.db.name, type_)
    now = time.monotonic()
    cached = _sizes.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    total = await env.db[type_].estimated_document_count()
    _sizes[key] = (now + _SIZE_SECONDS, total)
    return total


async def _window_docs(env: Env, q: Query, rng: dict[str, Any], batch: int) -> list[dict[str, Any]]:
    """The documents of one id window, in id order (at most ``batch``).

    The embedded planner serves ``{field: x, _id: <range>}`` from the
    ``(field, _id)`` index, but given a second equality, a short ``$in`` or a
    range on another field it may pick that field's own index and read every
    document it matches. So a window asks the database for the first equality
    and the id range only, and checks the other equalities, ``$in`` lists and
    one-sided ranges on what comes back (same result; conditions of other
    shapes stay in the filter), reading on inside the window when they left
    too few.
    """
    filt, checks = _window_filter(q.filter)
    projection = FETCH_FIELDS if checks else q.projection
    limit = batch if not checks else batch * 2
    window = dict(rng)
    out: list[dict[str, Any]] = []
    while True:
        raw = (
            await env.db[q.type_]
            .find(
                {**filt, "_id": window},
                projection,
                sort=[("_id", ASCENDING)],
                limit=limit,
                session=env.session,
            )
            .to_list()
        )
        out += [d for d in raw if all(check(d) for check in checks)]
        if len(out) >= batch or len(raw) < limit:
            return out[:batch]
        # the window holds more than one fetch: read on inside it, after the last one read
        window = {k: v for k, v in rng.items() if k not in ("$gt", "$gte")}
        window["$gt"] = raw[-1]["_id"]


Check = Callable[[dict[str, Any]], bool]
_RANGE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$lt": lambda v, b: v < b,
    "$lte": lambda v, b: v <= b,
    "$gt": lambda v, b: v > b,
    "$gte": lambda v, b: v >= b,
}


def _window_filter(filt: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    keep = next((k for k, v in filt.items() if k != "_id" and not isinstance(v, dict)), None)
    if keep is None or not all(_hashable(v) for v in filt.values()):
        return filt, []
    db: dict[str, Any] = {keep: filt[keep]}
    checks: list[Check] = []
    for field_, cond in filt.items():
        if field_ in (keep, "_id"):
            continue
        if not isinstance(cond, dict) and cond is not None:
            checks.append(_member_check(field_, frozenset([cond])))
        elif isinstance(cond, dict) and set(cond) == {"$in"} and None not in cond["$in"]:
            checks.append(_member_check(field_, frozenset(cond["$in"])))
        elif isinstance(cond, dict) and _simple_range(cond):
            checks.append(_range_check(field_, cond))
        else:
            db[field_] = cond
    return db, checks


def _member_check(path: str, wanted: frozenset[Any]) -> Check:
    return lambda doc: bool(_values(doc, path) & wanted)


def _simple_range(cond: dict[str, Any]) -> bool:
    """One-sided bounds on dates, numbers or strings (MongoDB compares within a type)."""
    return bool(cond) and all(
        op in _RANGE_OPS and isinstance(b, datetime | int | float | str) and not isinstance(b, bool)
        for op, b in cond.items()
    )


def _range_check(path: str, cond: dict[str, Any]) -> Check:
    """MongoDB's match of ``{path: cond}`` on a document.

    Without ``$elemMatch``, each bound is met by some value at the path (of an
    array: by some element, not necessarily the same one for every bound).
    """
    bounds = [(_RANGE_OPS[op], _naive(b), _kind(b)) for op, b in cond.items()]

    def check(doc: dict[str, Any]) -> bool:
        values = [(_kind(v), _naive(v)) for v in _raw_values(doc, path)]
        return all(any(k == kind and test(v, b) for k, v in values) for test, b, kind in bounds)

    return check


def _kind(value: Any) -> str:
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def _naive(value: Any) -> Any:
    """Stored dates come back without a time zone (UTC); bounds may carry one."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _hashable(value: Any) -> bool:
    items = value.get("$in", []) if isinstance(value, dict) else [value]
    return all(isinstance(i, str | int | float | bool) for i in items) if items else True


def _raw_values(doc: dict[str, Any], path: str) -> list[Any]:
    """Every value at a dotted path, through arrays (MongoDB's matching of arrays)."""
    current: list[Any] = [doc]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                value = item[part]
                nxt.extend(value if isinstance(value, list) else [value])
        current = nxt
    return current


def _values(doc: dict[str, Any], path: str) -> set[Any]:
    return {v for v in _raw_values(doc, path) if isinstance(v, str | int | float | bool)}


async def _windowed_page(
    env: Env,
    q: Query,
    count: int,
    cursor: Cursor,
    first: tuple[str, str, str, int] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A next page in id order, read through id windows of about one page each.

    SecantusDB materialises every document of a range before ``limit``, so a
    plain ``{field: x, _id: {$gt: cursor}}`` costs the whole rest of the
    result on every page. Bounding ``_id`` above by a window sized from the
    previous page's id span (``paging.window_for``) keeps each page to about
    its own documents; an empty window widens (x4), an overfull one narrows.
    The result is the same as the plain query's. ``first`` (a first page's
    key) records where the page ended, for the next first window.
    """
    wanted = count + 1
    width = cursor.window
    low, low_op = cursor.id, "$gt"
    out: list[dict[str, Any]] = []
    for _ in range(64):
        # what the page still needs, and a little more for what the checks may drop: a
        # window that turned out far wider than the page (one that crossed a gap in the
        # ids) costs a few short fetches, not every document it holds
        need = wanted - len(out)
        batch = need + 5 if not (q.tests or q.follows) else need * 3 // 2 + 5
        upper = id_bound(id_number(low) + max(1, width))
        rng: dict[str, Any] = {low_op: low}
        if upper is not None:
            rng["$lt"] = upper
        docs = await _window_docs(env, q, rng, batch)
        candidates = [d for d in docs if not d.get("del") and all(t(d) for t in q.tests)]
        found = (await visible(env, q, candidates))[: wanted - len(out)]
        out += found
        if len(out) >= wanted or upper is None:
            break
        if len(docs) == batch:  # more in this window than a batch: continue inside it
            low, low_op, width = docs[-1]["_id"], "$gt", max(1, width // 2)
        else:
            # the next window sized from this one's yield for what the page still needs
            # (an empty one: four times wider), so a selective criterion does not read
            # several pages' worth to find the page's last rows
            need = wanted - len(out)
            factor = 4.0 if not found else min(4.0, max(0.1, 1.5 * need / len(found)))
            low, low_op, width = upper, "$gte", max(1, int(width * factor))
    else:  # pathological id distribution: finish without a window
        rest = await fetch_page(
            env, q, wanted - len(out), Cursor((), out[-1]["_id"] if out else low, True)
        )
        out += rest[0]
        return out[:count], len(out) > count or rest[1]
    if first is not None and len(out) > count:
        _remember_end(first, str(out[count]["_id"]))
    return out[:count], len(out) > count
