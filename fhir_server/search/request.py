"""The typed ``SearchRequest``: a query string parsed once, before any database work.

Parsing resolves every name against the registry (chains and ``_has``
included), checks modifiers and result parameters, and sorts the query
items into three piles: criteria to apply, result controls, and parameters
that are unknown or unsupported. Unknown ones are ignored and reported (or,
with ``strict``, rejected); invalid *values* of known parameters are always
an error, because ignoring them would silently widen the result. Only the
storage layer turns this object into a MongoDB filter.

Values are split on unescaped commas (``\\,`` is a literal comma) into an
OR; repeating a parameter ANDs. Empty values are dropped, and a parameter
left with no value is ignored, so ``?family=`` does not match everything by
accident of a filter but simply does not filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fhir_server.errors import InvalidRequest, TooCostly, UnsupportedParameter
from fhir_server.search.registry import (
    MODIFIERS,
    UNSUPPORTED_PARAMS,
    SearchParam,
    SearchParameterRegistry,
)
from fhir_server.settings import SearchSettings

RESULT_PARAMS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_total",
        "_summary",
        "_elements",
        "_page",
        "_cursor",
        "_type",
        "_include:iterate",
        "_revinclude:iterate",
        "_include:recurse",
        "_revinclude:recurse",
    }
)
# Handled by the HTTP layer; never reported as unknown, never in the self link.
TRANSPORT_PARAMS = frozenset({"_format", "_pretty"})
SUMMARY_VALUES = ("true", "false", "text", "data", "count")
TOTAL_VALUES = ("none", "estimate", "accurate")


@dataclass
class Target:
    """Where a clause's values are tested: a parameter, a chain through one, or ``_has``."""

    type_: str
    code: str
    modifier: str | None = None
    param: SearchParam | None = None  # None for _id
    chain_types: tuple[str, ...] = ()  # for a chain: the types the next step runs on
    next: Target | None = None  # chain or _has continuation
    chain_next: dict[str, Target] = field(default_factory=dict)  # chain step per target type
    has_type: str | None = None  # for _has: the referring type ...
    has_ref: str | None = None  # ... and its reference parameter


@dataclass
class Clause:
    """One query item: ``name=v1,v2`` (the values are OR-ed)."""

    name: str
    values: list[str]
    target: Target


@dataclass
class Include:
    source: str  # type holding the reference (``*`` for every)
    code: str  # reference parameter (``*`` for every)
    target: str | None
    iterate: bool
    raw: str

    def param_name(self, reverse: bool) -> str:
        base = "_revinclude" if reverse else "_include"
        return base + (":iterate" if self.iterate else "")


@dataclass
class SearchRequest:
    type_: str | None
    types: list[str]  # the types to search: [type_] or the _type list
    clauses: list[Clause] = field(default_factory=list)
    count: int = 20
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    total: str = "none"
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    page: str | None = None
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    type_param: str | None = None
    base_url: str = ""  # this server's base: absolute references to it are local

    def self_params(self) -> list[tuple[str, str]]:
        """The parameters actually applied, as they go into the self link."""
        out = [(c.name, ",".join(v.replace(",", "\\,") for v in c.values)) for c in self.clauses]
        if self.type_param:
            out.append(("_type", self.type_param))
        if self.sort:
            out.append(("_sort", ",".join(("-" if d else "") + c for c, d in self.sort)))
        for inc in self.include:
            out.append((inc.param_name(False), inc.raw))
        for inc in self.revinclude:
            out.append((inc.param_name(True), inc.raw))
        if self.total != "none":
            out.append(("_total", self.total))
        if self.summary:
            out.append(("_summary", self.summary))
        if self.elements:
            out.append(("_elements", ",".join(self.elements)))
        out.append(("_count", str(self.count)))
        return out


def split_values(raw: str) -> list[str]:
    """Split on unescaped commas; ``\\,`` is a literal comma."""
    out, cur, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] == ",":
            cur.append(",")
            i += 2
            continue
        if ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [v for v in out if v != ""]


class _Unknown(Exception):
    """A name that does not resolve; becomes an ignored (or strict) parameter."""


def parse_search(
    registry: SearchParameterRegistry,
    type_: str | None,
    items: Iterable[tuple[str, str]],
    *,
    settings: SearchSettings,
    default_count: int = 20,
    max_count: int = 1000,
    strict: bool = False,
    base_url: str = "",
) -> SearchRequest:
    """Parse query items into a ``SearchRequest`` (see module docstring)."""
    items = list(items)
    types = [type_] if type_ else []
    req = SearchRequest(
        type_=type_, types=types, count=min(default_count, max_count), base_url=base_url
    )
    if type_ is None:
        type_values = [v for n, v in items if n == "_type"]
        if type_values:
            wanted = [t for v in type_values for t in split_values(v)]
            bad = [t for t in wanted if t not in registry.types]
            if bad:
                raise InvalidRequest(
                    f"Unknown resource type(s) in _type: {', '.join(bad)}", msg_id="MRTC-SRCH-001"
                )
            req.types = list(dict.fromkeys(wanted))
            req.type_param = ",".join(req.types)
        else:
            req.types = list(registry.types)
    for name, raw in items:
        if name in TRANSPORT_PARAMS or name == "_type":
            continue
        try:
            if name in RESULT_PARAMS:
                _result_param(req, registry, name, raw, max_count)
                continue
            values = split_values(raw)
            if not values:
                continue  # an empty parameter does not filter
            if len(values) > settings.max_or_values:
                raise TooCostly(
                    f"Parameter '{name}' has more than {settings.max_or_values} values",
                    msg_id="MRTC-SRCH-002",
                )
            if any(len(v) > settings.max_value_length for v in values):
                raise InvalidRequest(
                    f"A value of parameter '{name}' is longer than "
                    f"{settings.max_value_length} characters",
                    msg_id="MRTC-SRCH-003",
                )
            target = _resolve_name(registry, req.types, name, settings.max_chain_depth)
            req.clauses.append(Clause(name, values, target))
        except _Unknown as exc:
            if strict:
                raise UnsupportedParameter(str(exc), msg_id="MRTC-SRCH-004") from None
            req.ignored.append((name, str(exc)))
    if len(req.clauses) > settings.max_criteria:
        raise TooCostly(
            f"A search may have at most {settings.max_criteria} parameters", msg_id="MRTC-SRCH-005"
        )
    return req


def _common_param(
    registry: SearchParameterRegistry, types: Sequence[str], code: str
) -> SearchParam | None:
    """The definition of ``code`` when it means the same on every searched type."""
    found = [registry.get(t, code) for t in types]
    if not found or any(p is None for p in found):
        return None
    return found[0]


def _resolve_name(
    registry: SearchParameterRegistry, types: Sequence[str], name: str, depth: int
) -> Target:
    if name.startswith("_has:"):
        if len(types) != 1:
            raise _Unknown(f"'{name}': _has needs a single resource type")
        return _resolve_has(registry, types[0], name, depth)
    head, dot, rest = name.partition(".")
    code, colon, modifier = head.partition(":")
    mod = modifier if colon else None
    if code in UNSUPPORTED_PARAMS:
        raise _Unknown(f"Parameter '{code}' is not supported")
    if code == "_id":
        if len(types) < 1:
            raise _Unknown("'_id' needs a resource type")
        if mod and mod not in ("missing", "not"):
            raise UnsupportedParameter(
                f"Modifier ':{mod}' is not supported on '_id'", msg_id="MRTC-SRCH-006"
            )
        return Target(types[0], "_id", mod)
    param = _common_param(registry, types, code)
    if param is None:
        where = types[0] if len(types) == 1 else "every type in _type"
        raise _Unknown(f"Unknown search parameter '{code}' for {where}")
    if dot:
        if param.type != "reference":
            raise InvalidRequest(
                f"'{name}': only reference parameters can be chained", msg_id="MRTC-SRCH-007"
            )
        if depth <= 1:
            raise TooCostly(f"'{name}': chains are limited in depth", msg_id="MRTC-SRCH-008")
        if mod and mod not in registry.types:
            raise InvalidRequest(
                f"'{name}': ':{mod}' is not a resource type", msg_id="MRTC-SRCH-009"
            )
        candidates = [mod] if mod else [t for t in param.target if t in registry.types]
        next_code = rest.partition(".")[0].partition(":")[0]
        chain_types = tuple(
            t for t in candidates if next_code == "_id" or registry.get(t, next_code) is not None
        )
        if not chain_types:
            raise _Unknown(f"'{name}': no target type of '{code}' has parameter '{next_code}'")
        steps = {t: _resolve_name(registry, [t], rest, depth - 1) for t in chain_types}
        return Target(
            types[0],
            code,
            mod,
            param,
            chain_types=chain_types,
            next=steps[chain_types[0]],
            chain_next=steps,
        )
    _check_modifier(registry, param, mod, name)
    return Target(types[0], code, mod, param)


def _check_modifier(
    registry: SearchParameterRegistry, param: SearchParam, mod: str | None, name: str
) -> None:
    if mod is None:
        return
    allowed = MODIFIERS.get(param.type, ("missing",))
    if mod in allowed:
        return
    if param.type == "reference" and mod in registry.types:
        return
    raise UnsupportedParameter(
        f"Modifier ':{mod}' is not supported on {param.type} parameter '{param.code}' ({name})",
        msg_id="MRTC-SRCH-010",
    )


def _resolve_has(registry: SearchParameterRegistry, type_: str, name: str, depth: int) -> Target:
    parts = name.split(":", 3)
    if len(parts) < 4 or not all(parts[1:]):
        raise InvalidRequest(
            f"'{name}': expected _has:Type:reference:parameter", msg_id="MRTC-SRCH-011"
        )
    _, src, ref_code, rest = parts
    if src not in registry.types:
        raise _Unknown(f"'{name}': unknown resource type '{src}'")
    ref = registry.get(src, ref_code)
    if ref is None or ref.type != "reference":
        raise _Unknown(f"'{name}': '{ref_code}' is not a reference parameter of {src}")
    if depth <= 1:
        raise TooCostly(f"'{name}': _has is limited in depth", msg_id="MRTC-SRCH-008")
    nxt = _resolve_name(registry, [src], rest, depth - 1)
    return Target(type_, "_has", None, None, next=nxt, has_type=src, has_ref=ref_code)


def _parse_include(
    registry: SearchParameterRegistry, raw: str, iterate: bool, reverse: bool
) -> Include:
    if raw == "*":
        return Include("*", "*", None, iterate, raw)
    parts = raw.split(":")
    if len(parts) not in (2, 3) or parts[0] not in registry.types:
        raise InvalidRequest(
            f"Invalid _include/_revinclude value '{raw}': expected Type:parameter[:targetType]",
            msg_id="MRTC-SRCH-012",
        )
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if code != "*":
        param = registry.get(source, code)
        if param is None or param.type != "reference":
            raise InvalidRequest(
                f"'{code}' is not a reference parameter of {source}", msg_id="MRTC-SRCH-013"
            )
    if target is not None and target not in registry.types:
        raise InvalidRequest(f"Unknown target type '{target}' in '{raw}'", msg_id="MRTC-SRCH-014")
    return Include(source, code, target, iterate, raw)


def _result_param(
    req: SearchRequest, registry: SearchParameterRegistry, name: str, raw: str, max_count: int
) -> None:
    if name == "_count":
        try:
            n = int(raw)
        except ValueError:
            raise InvalidRequest(
                f"_count must be a whole number, not '{raw}'", msg_id="MRTC-SRCH-015"
            ) from None
        if n < 0:
            raise InvalidRequest("_count must not be negative", msg_id="MRTC-SRCH-015")
        req.count = min(n, max_count)
        if n == 0:
            req.summary = "count"
    elif name == "_sort":
        req.sort = []
        for item in split_values(raw):
            desc = item.startswith("-")
            code = item.lstrip("-")
            if (
                code not in ("_id", "_lastUpdated")
                and _common_param(registry, req.types, code) is None
            ):
                raise _Unknown(f"Unknown sort parameter '{code}'")
            param = _common_param(registry, req.types, code)
            if param is not None and param.type in ("composite", "special"):
                raise InvalidRequest(
                    f"Cannot sort on {param.type} parameter '{code}'", msg_id="MRTC-SRCH-016"
                )
            req.sort.append((code, desc))
    elif name in ("_include", "_include:iterate", "_include:recurse"):
        req.include.append(_parse_include(registry, raw, name != "_include", False))
    elif name in ("_revinclude", "_revinclude:iterate", "_revinclude:recurse"):
        req.revinclude.append(_parse_include(registry, raw, name != "_revinclude", True))
    elif name == "_total":
        if raw not in TOTAL_VALUES:
            raise InvalidRequest(
                f"_total must be one of {', '.join(TOTAL_VALUES)}", msg_id="MRTC-SRCH-017"
            )
        req.total = raw
    elif name == "_summary":
        if raw not in SUMMARY_VALUES:
            raise InvalidRequest(
                f"_summary must be one of {', '.join(SUMMARY_VALUES)}", msg_id="MRTC-SRCH-018"
            )
        req.summary = None if raw == "false" else raw
    elif name == "_elements":
        req.elements = [e.strip() for e in split_values(raw) if e.strip()]
    elif name in ("_page", "_cursor"):
        req.page = raw
