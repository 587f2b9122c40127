"""``_include`` and ``_revinclude`` (with ``:iterate``), bounded.

Includes read the references already extracted into each match's index
entry (``idx.<param>.v`` holds ``Type/id``), so following them is one
``$in`` lookup per target type, never a parse of the resource. Every lookup
carries the caller's read filter, so an include never reveals what a direct
read would refuse, and the total is capped by ``FHIR_SEARCH_MAX_INCLUDE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from fhir_server.errors import InvalidRequest, TooCostly
from fhir_server.search.request import Include
from fhir_server.storage.query import (
    FETCH_FIELDS,
    NOT_DELETED,
    Env,
    and_filters,
    compile_query,
    visible,
)

_LOCAL_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
Found = list[tuple[str, dict[str, Any]]]  # (type, stored document)


def _reference_codes(env: Env, type_: str, inc: Include) -> list[str]:
    if inc.code != "*":
        return [inc.code]
    return [c for c, p in env.registry.params_for(type_).items() if p.type == "reference"]


async def _find_in(
    env: Env, type_: str, field_: str, values: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Current resources whose ``field_`` is one of ``values``, as the caller may see them.

    ``field_`` is ``_id`` or an index path. The caller's restriction on
    ``type_`` is compiled in, so an include never reveals what a direct read
    would refuse.
    """
    q = await compile_query(env, type_, [])
    if q.matches_nothing:
        return []
    filt = and_filters({field_: {"$in": list(values)}}, q.filter)
    filt = and_filters(filt, {"del": NOT_DELETED})
    docs = (
        await env.db[type_]
        .find(filt, FETCH_FIELDS, session=env.session)
        .to_list(None if q.tests or q.follows else limit + 1)
    )
    return (await visible(env, q, [d for d in docs if all(t(d) for t in q.tests)]))[: limit + 1]


def _forward_refs(env: Env, docs: Found, inc: Include) -> dict[str, set[str]]:
    """Type -> ids referenced by ``docs`` through the include's parameter."""
    wanted: dict[str, set[str]] = {}
    for type_, doc in docs:
        if inc.source not in ("*", type_):
            continue
        idx = doc.get("idx") or {}
        for code in _reference_codes(env, type_, inc):
            for ref in (idx.get(code) or {}).get("v", []):
                m = _LOCAL_REF.match(ref)
                if m and (inc.target is None or m[1] == inc.target):
                    wanted.setdefault(m[1], set()).add(m[2])
    return wanted


async def resolve_includes(
    env: Env, matches: Found, include: Sequence[Include], revinclude: Sequence[Include]
) -> Found:
    """Resources to add with ``search.mode = include``, excluding the matches themselves."""
    if not include and not revinclude:
        return []
    settings = env.settings
    limit = settings.max_include
    seen = {(t, d["_id"]) for t, d in matches}
    added: Found = []
    frontier = matches
    for depth in range(settings.max_iterate_depth + 1):
        incs = [i for i in include if depth == 0 or i.iterate]
        revs = [i for i in revinclude if depth == 0 or i.iterate]
        if not frontier or (not incs and not revs):
            break
        new: Found = []
        for inc in incs:
            for type_, ids in _forward_refs(env, frontier, inc).items():
                ids -= {i for t, i in seen if t == type_}
                if ids:
                    docs = await _find_in(env, type_, "_id", sorted(ids), limit)
                    new += [(type_, d) for d in docs]
        for rev in revs:
            if rev.source == "*" or rev.code == "*":
                raise InvalidRequest(
                    "_revinclude needs an explicit Type:parameter", msg_id="MRTC-SRCH-060"
                )
            keys = [f"{t}/{d['_id']}" for t, d in frontier if rev.target is None or rev.target == t]
            if keys:
                docs = await _find_in(env, rev.source, f"idx.{rev.code}.v", keys, limit)
                new += [(rev.source, d) for d in docs]
        fresh = _dedupe(new, seen)
        added += fresh
        if len(added) > limit:
            raise TooCostly(
                f"_include/_revinclude would add more than {limit} resources; "
                "narrow the search or page with a smaller _count",
                msg_id="MRTC-SRCH-061",
            )
        frontier = fresh
    return added


def _dedupe(found: Iterable[tuple[str, dict[str, Any]]], seen: set[tuple[str, str]]) -> Found:
    out: Found = []
    for type_, doc in found:
        key = (type_, doc["_id"])
        if key not in seen:
            seen.add(key)
            out.append((type_, doc))
    return out
