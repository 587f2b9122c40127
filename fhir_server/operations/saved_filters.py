"""The caller's saved dashboard filters, as ``$dashboard`` applies them.

A saved filter is a Basic of the ``mrtc-dashboard-filter`` profile
(``resources.saved_filters``, decision 0037). ``$dashboard`` applies the one
named by its ``filter`` parameter, or — when the call gives no criterion —
the caller's default one. Both are read as the caller (the policy keeps a
filter private to its owner: someone else's is a 404, like any resource one
may not see).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fhir_server import errors
from fhir_server.interactions.context import Context
from fhir_server.interactions.read import load_current
from fhir_server.interactions.search import parse
from fhir_server.resources import saved_filters as shape
from fhir_server.security.principal import Principal
from fhir_server.storage.repository import StoredResource

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_FILTERS = 1000  # filters one owner may hold and still have a default found


async def choose(
    ctx: Context, filter_id: str | None, *, use_default: bool
) -> StoredResource | None:
    """The filter named by ``filter_id``, else (if ``use_default``) the caller's default one."""
    if filter_id is not None:
        if not _ID.match(filter_id):
            raise errors.InvalidRequest(
                f"$dashboard: 'filter' must be the id of a saved filter, got {filter_id!r}",
                msg_id="MRTC-DSH-003",
            )
        stored = await load_current(ctx, "Basic", filter_id)
        if not shape.is_saved_filter(stored.resource):
            raise errors.InvalidRequest(
                f"$dashboard: Basic/{filter_id} is not a saved dashboard filter",
                msg_id="MRTC-DSH-004",
            )
        return stored
    if not use_default or not isinstance(ctx.principal, Principal):
        return None
    refs = ctx.principal.member_refs()
    if not refs:
        return None
    query = [("code", f"{shape.SYSTEM}|{shape.CODE}"), ("author", ",".join(refs))]
    clauses = parse(ctx, "Basic", query, strict=True).clauses
    found = await ctx.services.repository.find(
        "Basic", clauses, MAX_FILTERS, ctx.scope, base_url=ctx.base_url
    )
    defaults = [f for f in found if f.resource and shape.is_default(f.resource)]
    defaults.sort(key=lambda f: f.last_updated, reverse=True)
    return defaults[0] if defaults else None


def criteria(resource: Mapping[str, Any], names: Iterable[str]) -> dict[str, list[Any]]:
    """The filter's criteria as operation parameters (name -> values)."""
    allowed = set(names)
    out: dict[str, list[Any]] = {}
    for name, value in shape.criteria_items(resource):
        if name in allowed:
            out.setdefault(name, []).append(value)
    return out
