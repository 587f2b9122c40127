"""From search clauses to MongoDB: filters, sub-queries and sort keys.

The only module that knows how search values are laid out in a stored
document (``idx.<code>.<field>``, see ``fhir_server.search.indexing``).

How a filter is assembled, for the embedded database's planner (DESIGN.md):
each clause's criterion contributes flat equality / ``$in`` / single-range
conditions, ordered by selectivity, because the planner serves the *first*
clause that has an index and filters the rest. Conditions that cannot be
expressed that way (OR of ranges, bounds that must belong to the same value,
wildcards) travel as Python predicates applied to the fetched documents;
the page loop (``storage.paging``) then fetches further until the page is
full. Chains and ``_has`` run first as bounded sub-queries and become
``$in`` lists. The caller's access restriction is compiled here too, into
every query of every type, so that nothing downstream can forget it; when it
lists more records than ``FHIR_SEARCH_RESTRICTION_IN_LIMIT`` and the query has
criteria of its own, it is applied as an exact predicate on their candidates
(the embedded planner's ``$in`` costs far more than linearly in its length).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.errors import TooCostly
from fhir_server.search import date, reference
from fhir_server.search.criteria import RANK_ID, Criterion
from fhir_server.search.kinds import leaf_criterion
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import Clause, Target
from fhir_server.search.restriction import Restriction
from fhir_server.search.values import to_utc
from fhir_server.settings import SearchSettings

FETCH_FIELDS = {"_id": 1, "vid": 1, "lu": 1, "del": 1, "res": 1, "drv": 1, "idx": 1}
SERVE_FIELDS = {"_id": 1, "vid": 1, "lu": 1, "del": 1, "res": 1, "drv": 1}
COUNT_FIELDS = {"_id": 1, "lu": 1, "idx": 1}
NOT_DELETED = {"$ne": True}
# Where the caller's restriction goes in a filter: after a request's equality references and
# string prefixes (a subject, a family name: a few documents), before its tokens and ranges
# (a code, a date: many). The planner serves the first indexed clause; a restriction is an
# `$in` over every record the caller may open, selective for a person, not for a structure.
RANK_RESTRICTION = 25
DocTest = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Env:
    """What compiling and running one search needs: the database and the caller's scope."""

    db: AsyncDatabase[Any]
    session: AsyncClientSession | None
    registry: SearchParameterRegistry
    settings: SearchSettings
    base_url: str = ""
    restriction: Restriction | None = None

    def unrestricted(self) -> Env:
        return replace(self, restriction=None)


@dataclass
class Query:
    """A compiled search on one collection."""

    type_: str
    filter: dict[str, Any]
    tests: list[DocTest] = field(default_factory=list)  # exact predicates the filter lacks
    sort: list[tuple[str, int]] = field(default_factory=list)  # ends with ("_id", dir)
    matches_nothing: bool = False
    with_index: bool = False  # fetch the whole idx (for _include), not just the sort keys
    follows: str | None = None  # visible when what this parameter names is (restriction)

    @property
    def projection(self) -> dict[str, Any]:
        """What a page fetches: the served JSON, plus the index only where it is read."""
        if self.with_index or self.tests or self.follows:
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
        return and_filters(self.filter, {"del": NOT_DELETED})


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


async def _clause_part(env: Env, clause: Clause, target: Target) -> _Part:
    if target.code == "_has":
        return await _has_part(env, clause, target)
    if target.code == "_id":
        return _id_part(clause.values, target.modifier)
    if target.code == "_lastUpdated" and target.modifier is None:
        return _last_updated_part(date.criterion("_lastUpdated", clause.values))
    if target.next is not None:
        keys = await _chain_keys(env, clause, target)
        return _absolute(
            target.code,
            reference.criterion_for_keys(keys)
            if keys
            else Criterion({"v": {"$in": []}}, lambda e: False),
        )
    crit = leaf_criterion(target, clause.values, env.base_url, env.registry, env.settings)
    return _absolute(target.code, crit)


async def _chain_keys(env: Env, clause: Clause, target: Target) -> list[str]:
    """Run the rest of a chain on each target type; ``Type/id`` of what matched."""
    assert target.next is not None
    limit = env.settings.max_chain_ids
    keys: list[str] = []
    for t in target.chain_types:
        q = await compile_query(env, t, [Clause(clause.name, clause.values, target.chain_next[t])])
        ids = [d["_id"] for d in await find_all(env, q, limit + 1, {"_id": 1})]
        keys.extend(f"{t}/{i}" for i in ids)
        if len(keys) > limit:
            raise TooCostly(
                f"The chained parameter '{clause.name}' matches more than {limit} "
                "resources; add criteria to narrow it",
                msg_id="MRTC-SRCH-050",
            )
    return keys


async def _has_part(env: Env, clause: Clause, target: Target) -> _Part:
    """``_has:Src:ref:crit``: ids of ``target.type_`` referred to by matching ``Src``."""
    assert target.next is not None and target.has_type and target.has_ref
    limit = env.settings.max_chain_ids
    q = await compile_query(env, target.has_type, [Clause(clause.name, clause.values, target.next)])
    docs = await find_all(env, q, limit + 1, {"_id": 1, "idx": 1})
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
_Rewrite = Callable[[datetime], tuple[str, datetime]]
_LO_OPS: dict[str, _Rewrite] = {
    "$gt": lambda x: ("$gt", x),
    "$gte": lambda x: ("$gte", x),
    "$lt": lambda x: ("$lt", x),
    "$lte": lambda x: ("$lte", x),
}
_HI_OPS: dict[str, _Rewrite] = {
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
        lu = to_utc(lu)
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


def _long_in(filt: dict[str, Any], limit: int) -> bool:
    return any(isinstance(v, dict) and len(v.get("$in") or ()) > limit for v in filt.values())


def and_filters(filt: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """AND two filters without losing any condition of either."""
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
    env: Env, type_: str, clauses: Sequence[Clause], sort: Sequence[tuple[str, bool]] = ()
) -> Query:
    """Compile the clauses of one type, and the caller's restriction on that type.

    The restriction is compiled like any clause (chains included), without
    itself being restricted, and ANDed in: a restricted caller's query can
    only ever be narrower than the unrestricted one.
    """
    parts = [await _clause_part(env, clause, clause.target) for clause in clauses]
    restricted = (
        env.restriction.clauses_for(type_, clauses) if env.restriction is not None else None
    )
    if restricted:
        inner = env.unrestricted()
        narrowed = any(p.filter for p in parts)
        for c in restricted:
            part = await _clause_part(inner, c, c.target)
            part.rank = max(part.rank, RANK_RESTRICTION)
            if narrowed and _long_in(part.filter, env.settings.restriction_in_limit):
                # A caller habilitated on many records (a coordinator, a structure): test
                # the restriction on the candidates of the query's own criteria, exactly,
                # rather than asking the planner for a long `$in` (module docstring).
                part = _Part({}, part.test, False, part.rank)
            parts.append(part)
    filt, tests = _merge(parts)
    matches_nothing = any(isinstance(v, dict) and v.get("$in") == [] for v in filt.values())
    follows = env.restriction.follows(type_) if env.restriction is not None else None
    return Query(
        type_, filt, tests, sort_spec(env.registry, type_, sort), matches_nothing, follows=follows
    )


async def visible(env: Env, q: Query, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``docs`` without those whose followed resource the caller may not see.

    A Binary is visible exactly when the resource its ``securityContext``
    names is: one ``_id $in`` query per target type, under the caller's own
    restriction, for a whole batch of candidates. A document that names no
    resource (the no-patient key) is outside every record.
    """
    if q.follows is None or env.restriction is None or not docs:
        return docs
    wanted: dict[str, set[str]] = {}
    keys_of: list[list[str]] = []
    for d in docs:
        keys = ((d.get("idx") or {}).get(q.follows) or {}).get("v") or []
        keys_of.append(keys)
        for key in keys:
            type_, _, id_ = key.partition("/")
            if id_ and "/" not in id_ and type_ in env.registry.types:
                wanted.setdefault(type_, set()).add(id_)
    seen: set[str] = set()
    for type_, ids in wanted.items():
        target = await compile_query(env, type_, [Clause("_id", sorted(ids), Target(type_, "_id"))])
        seen |= {f"{type_}/{d['_id']}" for d in await find_all(env, target, len(ids), {"_id": 1})}
    return [
        d
        for d, keys in zip(docs, keys_of, strict=True)
        if any(k in seen for k in keys) or (keys and all(not k.partition("/")[2] for k in keys))
    ]


async def find_all(
    env: Env, q: Query, limit: int, projection: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every current match up to ``limit`` (sub-queries, conditional interactions)."""
    if q.matches_nothing:
        return []
    proj = dict(projection)
    filtered = bool(q.tests or q.follows)
    if filtered:
        proj.update(COUNT_FIELDS)
    docs = (
        await env.db[q.type_]
        .find(q.live_filter, proj, limit=0 if filtered else limit, session=env.session)
        .to_list()
    )
    out = [d for d in docs if all(t(d) for t in q.tests)]
    return (await visible(env, q, out))[:limit]


async def count(env: Env, q: Query) -> int:
    """Exact count (``_total=accurate``): the expensive path, never the default."""
    if q.matches_nothing:
        return 0
    coll = env.db[q.type_]
    if not q.tests and not q.follows:
        return await coll.count_documents(q.live_filter, session=env.session)
    n = 0
    batch: list[dict[str, Any]] = []
    async for d in coll.find(q.live_filter, COUNT_FIELDS, session=env.session):
        if all(t(d) for t in q.tests):
            batch.append(d)
        if len(batch) >= 500:
            n += len(await visible(env, q, batch))
            batch = []
    return n + len(await visible(env, q, batch))
