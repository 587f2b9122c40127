"""Write-time extraction of search values into a resource's ``idx`` sub-document.

Called by the write path on every create/update (and by ``reindex``): each
parameter of the type is evaluated with its compiled FHIRPath expression and
the values are normalised by the module of the parameter's type, so that a
search is a lookup on precomputed values rather than a walk over JSON.
Parameters without a value are left out, which is what ``:missing`` reads.
The document is stamped with ``INDEX_VERSION``; bump it whenever the layout of
an entry changes so ``reindex`` can find stale documents.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fhir_server.search import composite
from fhir_server.search.kinds import extract_values
from fhir_server.search.registry import ENGINE_PARAMS, SearchParam, SearchParameterRegistry

INDEX_VERSION = 1
log = logging.getLogger(__name__)


def index_entry(
    registry: SearchParameterRegistry, param: SearchParam, resource: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The entry of one parameter, or None when the resource has no value for it."""
    if param.type == "composite":
        types = [registry.component_type(c) for c in param.components]
        if any(t is None for t in types):
            return None
        walker = param.composite_walker
        if walker is not None:
            pairs = walker(resource)
            if not pairs:
                return None
            return composite.extract_pairs(pairs, [t for t in types if t], extract_values)
        items = param.nodes(resource)
        if not items:
            return None
        return composite.extract(
            items, param.component_evaluators, [t for t in types if t], extract_values
        )
    values = param.values(resource)
    if not values:
        return None
    return extract_values(param.type, values)


def build_index(
    registry: SearchParameterRegistry, type_: str, resource: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``idx`` sub-document of ``resource`` (set ``meta.lastUpdated`` first).

    A parameter whose expression fails on odd data is skipped and logged: a
    write must not fail because one search value could not be extracted.
    """
    idx: dict[str, Any] = {}
    for code, param in registry.params_for(type_).items():
        if code in ENGINE_PARAMS and code != "_lastUpdated":
            continue
        if param.type == "special" or not param.expression:
            continue
        try:
            entry = index_entry(registry, param, resource)
        except Exception:  # fhirpathpy raises bare Exceptions
            log.warning("search value of %s.%s could not be extracted", type_, code, exc_info=True)
            continue
        if entry:
            idx[code] = entry
    return idx
