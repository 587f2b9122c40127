"""One table from a parameter type to its module: extraction, criterion, index fields.

Each parameter type (``string``, ``token``, ``date``...) has a module of its
own that knows how values of that type are extracted at write time, how a
search value becomes a ``Criterion`` on the extracted entry, and which entry
fields deserve a database index. This module is the only place that
dispatches on the type name, so an unsupported type is one missing row,
reported, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

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
from fhir_server.search.criteria import Criterion, missing_criterion
from fhir_server.search.registry import SearchParam, SearchParameterRegistry
from fhir_server.search.request import Target
from fhir_server.settings import SearchSettings

MODULES: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "reference": reference,
    "date": date,
    "number": number,
    "quantity": quantity,
    "uri": uri,
    "composite": composite,
    "special": special,
}


def extract_values(type_: str, values: Sequence[Any]) -> dict[str, Any] | None:
    """The index entry of ``values`` for a (non-composite) parameter of ``type_``."""
    module = MODULES.get(type_)
    if module is None or type_ == "composite":
        return None
    entry: dict[str, Any] | None = module.extract(values)
    return entry


def index_fields(param: SearchParam) -> tuple[str, ...]:
    """The entry fields of ``param`` that deserve a database index."""
    module = MODULES.get(param.type)
    return tuple(module.INDEX_FIELDS) if module is not None else ()


def equality_match(param: SearchParam) -> bool:
    """Whether ``param``'s criterion is an equality on its index fields."""
    module = MODULES.get(param.type)
    return bool(module.EQUALITY_MATCH) if module is not None else False


def leaf_criterion(
    target: Target,
    values: Sequence[str],
    base_url: str,
    registry: SearchParameterRegistry,
    settings: SearchSettings,
) -> Criterion:
    """The criterion of one parameter (no chain, no ``_has``) on its index entry."""
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
            return leaf_criterion(
                Target(target.type_, code, None, sub), [raw], base_url, registry, settings
            )

        return composite.criterion(code, values, [t or "" for t in types], make)
    return special.criterion(code, values)
