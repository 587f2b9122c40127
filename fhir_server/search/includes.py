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
from typing import TYPE_CHECKING, Any

from fhir_server.errors import InvalidRequest, TooCostly
from fhir_server.search.request import Include
from fhir_server.search.settings import get_search_settings
from fhir_server.storage.search_query import find_in

if TYPE_CHECKING:
    from fhir_server.interactions.context import Context

_LOCAL_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
Found = list[tuple[str, dict[str, Any]]]  # (type, stored document)


def _reference_codes(ctx: Context, type_: str, inc: Include) -> list[str]:
    if inc.code != "*":
        return [inc.code]
    return [c for c, p in ctx.search_params.params_for(type_).items() if p.type == "reference"]


def _forward_refs(ctx: Context, docs: Found, inc: Include) -> dict[str, set[str]]:
    """Type -> ids referenced by ``docs`` through the include's parameter."""
    wanted: dict[str, set[str]] = {}
    for type_, doc in docs:
        if inc.source not in ("*", type_):
            continue
        idx = doc.get("idx") or {}
        for code in _reference_codes(ctx, type_, inc):
            for ref in (idx.get(code) or {}).get("v", []):
                m = _LOCAL_REF.match(ref)
                if m and (inc.target is None or m[1] == inc.target):
                    wanted.setdefault(m[1], set()).add(m[2])
    return wanted


async def resolve_includes(
    ctx: Context, matches: Found, include: Sequence[Include], revinclude: Sequence[Include]
) -> Found:
    """Resources to add with ``search.mode = include``, excluding the matches themselves."""
    if not include and not revinclude:
        return []
    settings = get_search_settings()
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
            for type_, ids in _forward_refs(ctx, frontier, inc).items():
                ids -= {i for t, i in seen if t == type_}
                if ids:
                    docs = await find_in(ctx, type_, "_id", sorted(ids), limit)
                    new += [(type_, d) for d in docs]
        for rev in revs:
            if rev.source == "*" or rev.code == "*":
                raise InvalidRequest(
                    "_revinclude needs an explicit Type:parameter", msg_id="MRTC-SRCH-060"
                )
            keys = [f"{t}/{d['_id']}" for t, d in frontier if rev.target is None or rev.target == t]
            if keys:
                docs = await find_in(ctx, rev.source, f"idx.{rev.code}.v", keys, limit)
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
