"""From a ``SearchRequest`` to MongoDB: filters, sub-queries, paging, indexes.

The only module that knows how search values are laid out in a stored
document (``idx.<code>.<field>``, see ``fhir_server.search.indexing``).

How a filter is assembled, for the embedded database's planner (DESIGN.md):
each clause's criterion contributes flat equality / ``$in`` / single-range
conditions, ordered by selectivity, because the planner serves the *first*
clause that has an index and filters the rest. Conditions that cannot be
expressed that way (OR of ranges, bounds that must belong to the same value,
wildcards) travel as Python predicates applied to the fetched documents;
the page loop then fetches further until the page is full. Chains and
``_has`` run first as bounded sub-queries and become ``$in`` lists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING

from fhir_server.errors import InvalidRequest, TooCostly
from fhir_server.search import (
    composite,
    date,
    number,
    quantity,
    reference,
    special,
    string,
    token,
    uri,
)
from fhir_server.search.criteria import RANK_ID, Criterion, missing_criterion
from fhir_server.search.paging import Cursor, id_bound, id_number
from fhir_server.search.registry import SearchParam, SearchParameterRegistry
from fhir_server.search.request import Clause, Target
from fhir_server.search.settings import SearchSettings, get_search_settings
from fhir_server.search.values import to_naive_utc

if TYPE_CHECKING:
    from fhir_server.interactions.context import Context

log = logging.getLogger(__name__)
FETCH_FIELDS = {"_id": 1, "vid": 1, "lu": 1, "del": 1, "res": 1, "idx": 1}
SERVE_FIELDS = {"_id": 1, "vid": 1, "lu": 1, "del": 1, "res": 1}
COUNT_FIELDS = {"_id": 1, "lu": 1, "idx": 1}
NOT_DELETED = {"$ne": True}
DocTest = Callable[[dict[str, Any]], bool]


@dataclass
class Query:
    """A compiled search on one collection."""

    type_: str
    filter: dict[str, Any]
    tests: list[DocTest] = field(default_factory=list)  # exact predicates the filter lacks
    sort: list[tuple[str, int]] = field(default_factory=list)  # ends with ("_id", dir)
    matches_nothing: bool = False
    with_index: bool = False  # fetch the whole idx (for _include), not just the sort keys

    @property
    def projection(self) -> dict[str, Any]:
        """What a page fetches: the served JSON, plus the index only where it is read."""
        if self.with_index or self.tests:
            return FETCH_FIELDS
        return {**SERVE_FIELDS, **{f: 1 for f, _ in self.sort}}

    @property
    def live_filter(self) -> dict[str, Any]:
        """The filter with deleted resources excluded on the server side.

        Paging leaves the deleted flag out of the filter and drops deleted
        documents in Python instead: a filter of exactly one equality plus one
        range (``{idx.code.v: x, _id: {$gt: cursor}}``) is what the embedded
        planner serves from a compound (field, _id) index, and a third clause
        would send it back to the single-field path. Counts and sub-queries,
        which are not paged, exclude them in the filter.
        """
        return _and(self.filter, {"del": NOT_DELETED})


# ------------------------------------------------------------- criteria


def _leaf_criterion(
    target: Target,
    values: Sequence[str],
    base_url: str,
    registry: SearchParameterRegistry,
    settings: SearchSettings,
) -> Criterion:
    """The criterion of one parameter (no chain) on its index entry."""
    param, code, mod = target.param, target.code, target.modifier
    assert param is not None
    if mod == "missing":
        return missing_criterion(values, code)
    kind = param.type
    if kind == "string":
        return string.criterion(code, mod, values, settings.max_wildcards)
    if kind == "token":
        identifier_like = code == "identifier" or (param.expression or "").endswith("identifier")
        return token.criterion(code, mod, values, identifier_like)
    if kind == "reference":
        return reference.criterion(code, mod, values, param.target, base_url)
    if kind == "date":
        return date.criterion(code, values)
    if kind == "number":
        return number.criterion(code, values)
    if kind == "quantity":
        return quantity.criterion(code, values)
    if kind == "uri":
        return uri.criterion(code, mod, values)
    if kind == "composite":
        types = [registry.component_type(c) for c in param.components]

        def make(component_type: str, raw: str) -> Criterion:
            sub = SearchParam(
                code=code, type=component_type, url="", resource_type="", expression=None
            )
            return _leaf_criterion(
                Target(target.type_, code, None, sub), [raw], base_url, registry, settings
            )

        return composite.criterion(code, values, [t or "" for t in types], make)
    return special.criterion(code, values)


@dataclass
class _Part:
    """One clause compiled to absolute paths."""

    filter: dict[str, Any]
    test: DocTest
    exact: bool
    rank: int


def _absolute(code: str, crit: Criterion) -> _Part:
    base = f"idx.{code}"
    filt = {(f"{base}.{k}" if k else base): v for k, v in crit.filter.items()}

    def test(doc: dict[str, Any]) -> bool:
        return crit.test((doc.get("idx") or {}).get(code))

    return _Part(filt, test, crit.exact and not _two_sided(crit.filter), crit.rank)


def _two_sided(filt: dict[str, Any]) -> bool:
    """A lower and an upper bound on one index field.

    Index values are arrays, and MongoDB matches ``{f: {$gte: a, $lt: b}}``
    on an array when *some* element is >= a and *some* (possibly other)
    element is < b: ``family=durand`` would find a ``["dupont", "therese"]``
    patient. Such a clause is only a superset; the exact test must run.
    """
    lower, upper = {"$gt", "$gte"}, {"$lt", "$lte"}
    return any(
        isinstance(cond, dict) and lower & cond.keys() and upper & cond.keys()
        for cond in filt.values()
    )


def _id_part(values: Sequence[str], modifier: str | None) -> _Part:
    if modifier == "missing":
        # every resource has an id
        none = values == ["true"]
        return _Part({"_id": {"$in": []}} if none else {}, lambda d: not none, True, RANK_ID)
    wanted = set(values)
    if modifier == "not":
        return _Part({"_id": {"$nin": list(values)}}, lambda d: d["_id"] not in wanted, True, 90)
    return _Part(
        {"_id": values[0] if len(values) == 1 else {"$in": list(values)}},
        lambda d: d["_id"] in wanted,
        True,
        RANK_ID,
    )


async def _clause_part(ctx: Context, clause: Clause, target: Target) -> _Part:
    registry: SearchParameterRegistry = ctx.search_params
    settings = get_search_settings()
    if target.code == "_has":
        return await _has_part(ctx, clause, target)
    if target.code == "_id":
        return _id_part(clause.values, target.modifier)
    if target.code == "_lastUpdated" and target.modifier is None:
        return _last_updated_part(date.criterion("_lastUpdated", clause.values))
    if target.next is not None:
        keys = await _chain_keys(ctx, clause, target)
        return _absolute(
            target.code,
            reference.criterion_for_keys(keys)
            if keys
            else Criterion({"v": {"$in": []}}, lambda e: False),
        )
    return _absolute(
        target.code, _leaf_criterion(target, clause.values, ctx.base_url, registry, settings)
    )


async def _chain_keys(ctx: Context, clause: Clause, target: Target) -> list[str]:
    """Run the rest of a chain on each target type; ``Type/id`` of what matched."""
    assert target.next is not None
    limit = get_search_settings().max_chain_ids
    keys: list[str] = []
    for t in target.chain_types:
        q = await compile_query(ctx, t, [Clause(clause.name, clause.values, target.chain_next[t])])
        ids = await matching_ids(ctx, q, limit + 1)
        keys.extend(f"{t}/{i}" for i in ids)
        if len(keys) > limit:
            raise TooCostly(
                f"The chained parameter '{clause.name}' matches more than {limit} "
                "resources; add criteria to narrow it",
                msg_id="MRTC-SRCH-050",
            )
    return keys


async def _has_part(ctx: Context, clause: Clause, target: Target) -> _Part:
    """``_has:Src:ref:crit``: ids of ``target.type_`` referred to by matching ``Src``."""
    assert target.next is not None and target.has_type and target.has_ref
    limit = get_search_settings().max_chain_ids
    q = await compile_query(ctx, target.has_type, [Clause(clause.name, clause.values, target.next)])
    docs = await _find_all(ctx, q, limit + 1, {"_id": 1, "idx": 1})
    if len(docs) > limit:
        raise TooCostly(
            f"'{clause.name}' matches more than {limit} {target.has_type} "
            "resources; add criteria to narrow it",
            msg_id="MRTC-SRCH-051",
        )
    prefix = f"{target.type_}/"
    ids: list[str] = []
    for d in docs:
        for ref in ((d.get("idx") or {}).get(target.has_ref) or {}).get("v", []):
            if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
                ids.append(ref[len(prefix) :])
    ids = list(dict.fromkeys(ids))
    wanted = set(ids)
    return _Part({"_id": {"$in": ids}}, lambda d: d["_id"] in wanted, True, RANK_ID)


_MS = timedelta(milliseconds=1)
# A stored instant ``lu`` is the range [lu, lu + 1 ms): conditions on that range's
# bounds, rewritten as conditions on ``lu`` itself.
_LO_OPS = {
    "$gt": lambda x: ("$gt", x),
    "$gte": lambda x: ("$gte", x),
    "$lt": lambda x: ("$lt", x),
    "$lte": lambda x: ("$lte", x),
}
_HI_OPS = {
    "$gt": lambda x: ("$gte", x),
    "$gte": lambda x: ("$gte", x - _MS),
    "$lt": lambda x: ("$lt", x - _MS),
    "$lte": lambda x: ("$lt", x),
}


def _last_updated_part(crit: Criterion) -> _Part:
    """``_lastUpdated`` on the document's own ``lu`` (indexed), not on a copy in ``idx``.

    Reading ``lu`` means the search is right whatever the write path put in
    ``meta.lastUpdated`` and in which order it indexed.
    """
    cond: dict[str, Any] = {}
    for key, ops in crit.filter.items():
        table = _LO_OPS if key == "lo" else _HI_OPS if key == "hi" else None
        if table is None:
            cond = {}
            break
        for op, value in ops.items():
            new_op, new_value = table[op](value)
            old = cond.get(new_op)
            tighter = min if new_op in ("$lt", "$lte") else max
            cond[new_op] = new_value if old is None else tighter(old, new_value)

    def test(doc: dict[str, Any]) -> bool:
        lu = doc.get("lu")
        if not isinstance(lu, datetime):
            return False
        lu = to_naive_utc(lu)
        return crit.test({"lo": [lu], "hi": [lu + _MS]})

    return _Part({"lu": cond} if cond else {}, test, crit.exact and bool(cond), crit.rank)


def _merge(parts: Sequence[_Part]) -> tuple[dict[str, Any], list[DocTest]]:
    """AND the parts into one flat filter, most selective first (see module docstring)."""
    filt: dict[str, Any] = {}
    tests: list[DocTest] = []
    for part in sorted(parts, key=lambda p: p.rank):
        clash = any(k in filt for k in part.filter)
        if not clash:
            filt.update(part.filter)
        if clash or not part.exact:
            tests.append(part.test)
    return filt, tests


def _and(filt: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """AND an externally built filter (the access policy's) without losing any of it."""
    if not extra:
        return filt
    if any(k in filt for k in extra):
        return {"$and": [filt, extra]}
    return {**filt, **extra}


def sort_spec(
    registry: SearchParameterRegistry, type_: str, sort: Sequence[tuple[str, bool]]
) -> list[tuple[str, int]]:
    """MongoDB sort on scalar sort keys, always ending with ``_id`` for stability."""
    out: list[tuple[str, int]] = []
    for code, desc in sort:
        direction = DESCENDING if desc else ASCENDING
        if code == "_id":
            out.append(("_id", direction))
            break
        if code == "_lastUpdated":
            out.append(("lu", direction))
            continue
        param = registry.get(type_, code)
        # FHIR sorts descending on the latest end of a date range, ascending on the earliest start.
        key = "e" if desc and param is not None and param.type == "date" else "s"
        out.append((f"idx.{code}.{key}", direction))
    if not out or out[-1][0] != "_id":
        out.append(("_id", ASCENDING))
    return out


async def compile_query(
    ctx: Context, type_: str, clauses: Sequence[Clause], sort: Sequence[tuple[str, bool]] = ()
) -> Query:
    """Compile the clauses of one type, running chain and ``_has`` sub-queries."""
    parts = [await _clause_part(ctx, clause, clause.target) for clause in clauses]
    filt, tests = _merge(parts)
    matches_nothing = any(isinstance(v, dict) and v.get("$in") == [] for v in filt.values())
    filt = _and(filt, ctx.read_filter(type_))
    return Query(type_, filt, tests, sort_spec(ctx.search_params, type_, sort), matches_nothing)


# ------------------------------------------------------------- execution


def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def sort_key(doc: dict[str, Any], sort: Sequence[tuple[str, int]]) -> tuple[Any, ...]:
    return tuple(_get(doc, f) for f, _ in sort)


def _wrap(v: Any) -> tuple[int, Any]:
    # MongoDB orders null/missing before any value; mirror it for cursor comparisons.
    return (0, 0) if v is None else (1, v)


def _after(key: Sequence[Any], anchor: Sequence[Any], sort: Sequence[tuple[str, int]]) -> bool:
    """Is ``key`` strictly after ``anchor`` in the sort order?"""
    for k, a, (_, direction) in zip(key, anchor, sort, strict=True):
        wk, wa = _wrap(k), _wrap(a)
        if wk == wa:
            continue
        try:
            return (wk > wa) if direction == ASCENDING else (wk < wa)
        except TypeError:
            return str(wk) > str(wa)
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


def _reverse(sort: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(f, -d) for f, d in sort]


async def fetch_page(
    ctx: Context, q: Query, count: int, cursor: Cursor | None
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
        and get_search_settings().windowed_paging
    ):
        return await _windowed_page(ctx, q, count, cursor)
    settings = get_search_settings()
    sort = q.sort if cursor is None or cursor.forward else _reverse(q.sort)
    anchor: tuple[Any, ...] | None = None
    if cursor is not None:
        anchor = (*cursor.keys, cursor.id)
        if len(anchor) != len(sort):
            raise InvalidRequest(
                "The paging cursor does not match this search's sort", msg_id="MRTC-SRCH-041"
            )
    coll = ctx.db[q.type_]
    wanted = count + 1
    # a little slack absorbs deleted documents; predicates need more
    batch = wanted + 5 if not q.tests else max(wanted * 2, 50)
    out: list[dict[str, Any]] = []
    scanned = 0
    while True:
        filt = q.filter if anchor is None else _and(q.filter, _anchor_filter(sort, anchor))
        docs = await coll.find(
            filt, q.projection, sort=sort, limit=batch, session=ctx.session
        ).to_list()
        scanned += len(docs)
        for d in docs:
            k = sort_key(d, sort)
            if anchor is not None and not _after(k, anchor, sort):
                continue
            if not d.get("del") and all(t(d) for t in q.tests):
                out.append(d)
                if len(out) == wanted:
                    break
        if len(out) >= wanted or len(docs) < batch:
            break
        if scanned >= settings.scan_budget:
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
    ctx: Context, q: Query, count: int, cursor: Cursor
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
    batch = wanted + 5 if not q.tests else max(wanted * 2, 50)
    width = cursor.window
    low, low_op = cursor.id, "$gt"
    out: list[dict[str, Any]] = []
    for _ in range(64):
        upper = id_bound(id_number(low) + max(1, width))
        rng: dict[str, Any] = {low_op: low}
        if upper is not None:
            rng["$lt"] = upper
        docs = (
            await ctx.db[q.type_]
            .find(
                {**q.filter, "_id": rng},
                q.projection,
                sort=[("_id", ASCENDING)],
                limit=batch,
                session=ctx.session,
            )
            .to_list()
        )
        for d in docs:
            if not d.get("del") and all(t(d) for t in q.tests):
                out.append(d)
                if len(out) == wanted:
                    break
        if len(out) >= wanted or upper is None:
            break
        if len(docs) == batch:  # more in this window than a batch: continue inside it
            low, low_op, width = docs[-1]["_id"], "$gt", max(1, width // 2)
        else:
            low, low_op, width = upper, "$gte", width * 4
    else:  # pathological id distribution: finish without a window
        rest = await fetch_page(
            ctx, q, wanted - len(out), Cursor((), out[-1]["_id"] if out else low, True)
        )
        out += rest[0]
        return out[:count], len(out) > count or rest[1]
    return out[:count], len(out) > count


async def _find_all(
    ctx: Context, q: Query, limit: int, projection: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every match up to ``limit`` (for sub-queries and conditional interactions)."""
    if q.matches_nothing:
        return []
    proj = dict(projection)
    if q.tests:
        proj.update(COUNT_FIELDS)
    docs = (
        await ctx.db[q.type_]
        .find(q.live_filter, proj, limit=0 if q.tests else limit, session=ctx.session)
        .to_list()
    )
    out = [d for d in docs if all(t(d) for t in q.tests)]
    return out[:limit]


async def matching_ids(ctx: Context, q: Query, limit: int) -> list[str]:
    return [d["_id"] for d in await _find_all(ctx, q, limit, {"_id": 1})]


async def find_all(ctx: Context, q: Query, limit: int) -> list[dict[str, Any]]:
    return await _find_all(ctx, q, limit, FETCH_FIELDS)


async def find_in(
    ctx: Context, type_: str, field_: str, values: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Current resources whose ``field_`` is one of ``values`` (for _include/_revinclude).

    ``field_`` is ``_id`` or an index path; the caller's read filter applies.
    """
    filt = _and({field_: {"$in": list(values)}}, ctx.read_filter(type_))
    filt = _and(filt, {"del": NOT_DELETED})
    return await (
        ctx.db[type_].find(filt, FETCH_FIELDS, limit=limit + 1, session=ctx.session).to_list()
    )


async def count(ctx: Context, q: Query) -> int:
    """Exact count (``_total=accurate``): the expensive path, never the default."""
    if q.matches_nothing:
        return 0
    if not q.tests:
        return await ctx.db[q.type_].count_documents(q.live_filter, session=ctx.session)
    n = 0
    async for d in ctx.db[q.type_].find(q.live_filter, COUNT_FIELDS, session=ctx.session):
        if all(t(d) for t in q.tests):
            n += 1
    return n


# ------------------------------------------------------------- indexes


@dataclass(frozen=True)
class IndexSelection:
    """Which search parameters deserve an index (``FHIR_SEARCH_INDEXES``).

    On the embedded database every index costs about as much per insert as
    the document itself, so indexing all ~30 parameters of a type made
    writes several times slower for searches nobody runs. The default set is
    data (``fhir_server/data/search-indexes.json``), the IG's parameters
    included by name.
    """

    everything: bool
    wanted: frozenset[tuple[str, str]]  # (type or "*", code)

    @classmethod
    def from_setting(cls, setting: str) -> IndexSelection:
        if setting.strip().lower() == "all":
            return cls(True, frozenset())
        text = importlib_resources.files("fhir_server.data").joinpath("search-indexes.json")
        data = json.loads(text.read_text())
        wanted = {(t, c) for t, codes in data.items() if not t.startswith("_") for c in codes}
        for item in setting.split(","):
            type_, _, code = item.strip().partition(".")
            if code:
                wanted.add((type_, code))
        return cls(False, frozenset(wanted))

    def wants(self, type_: str, param: SearchParam) -> bool:
        if self.everything:
            return True
        return (type_, param.code) in self.wanted or ("*", param.code) in self.wanted


def index_fields(param: SearchParam) -> list[str]:
    """The ``idx`` paths of one parameter that deserve an index."""
    base = f"idx.{param.code}"
    kind = param.type
    if kind == "string":
        return [f"{base}.n"]
    if kind in ("token", "reference", "uri"):
        return [f"{base}.v"]
    if kind == "date":
        return [f"{base}.lo", f"{base}.hi"]
    if kind == "number":
        return [f"{base}.v"]
    if kind == "quantity":
        return [f"{base}.u"]
    if kind == "composite":
        return [f"{base}.k"]
    return []


async def ensure_search_indexes(
    db: Any, registry: SearchParameterRegistry, types: Sequence[str] | None = None
) -> int:
    """Create the indexes search relies on; returns how many were asked for. Idempotent.

    One index per parameter field, not one per combination: the filter puts
    the most selective clause first and the planner needs only that one.
    Equality-type fields (token, reference, uri) are indexed together with
    ``_id``, so a keyset page ``{field: x, _id: {$gt: cursor}}`` is an index
    range on every planner; the others are sparse single-field indexes,
    because most resources have a value for few of their type's parameters.
    """
    from pymongo import IndexModel

    skip = {
        "_id",
        "_text",
        "_content",
        "_query",
        "_list",
        "_filter",
        "_profile",
        "_security",
        "_source",
        "_lastUpdated",
    }
    n = 0
    selection = IndexSelection.from_setting(get_search_settings().indexes)
    for type_ in types or registry.types:
        models = [IndexModel([("lu", ASCENDING)], name="lu")]
        for code, param in registry.params_for(type_).items():
            if code in skip or not param.expression or not selection.wants(type_, param):
                continue
            for path in index_fields(param):
                if param.type in ("token", "reference", "uri"):
                    models.append(
                        IndexModel(
                            [(path, ASCENDING), ("_id", ASCENDING)], name=f"{path}+_id", sparse=True
                        )
                    )
                else:
                    models.append(IndexModel([(path, ASCENDING)], name=path, sparse=True))
        await db[type_].create_indexes(models)
        n += len(models)
    return n
