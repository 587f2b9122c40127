"""Does one resource meet some search criteria? Decided in memory, from its own index.

Used where a database query would be the wrong tool: whether a resource
being written still meets the condition that created it (the race-free
conditional-create key is kept only while it does), and whether a past
version meets the caller's access restriction (history has no index of its
own). Criteria that need other resources (chains, ``_has``) cannot be
decided this way and answer None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir_server.search.indexing import build_index
from fhir_server.search.kinds import leaf_criterion
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import Clause
from fhir_server.settings import SearchSettings


def resource_matches(
    registry: SearchParameterRegistry,
    settings: SearchSettings,
    resource: Mapping[str, Any],
    clauses: Sequence[Clause],
    *,
    base_url: str = "",
    index: Mapping[str, Any] | None = None,
) -> bool | None:
    """True or False when decidable in memory; None when a clause needs other resources."""
    type_ = str(resource.get("resourceType", ""))
    idx = build_index(registry, type_, resource) if index is None else index
    for clause in clauses:
        target = clause.target
        if target.code == "_has" or target.next is not None:
            return None
        if target.code == "_id":
            id_ = resource.get("id")
            if target.modifier == "missing":
                ok = clause.values == ["false"]
            elif target.modifier == "not":
                ok = id_ not in clause.values
            else:
                ok = id_ in clause.values
        else:
            if target.param is None:
                return None
            criterion = leaf_criterion(target, clause.values, base_url, registry, settings)
            ok = criterion.test(idx.get(target.code))
        if not ok:
            return False
    return True
