"""A fast evaluator for search-parameter expressions that are plain element paths.

Most base parameters are paths like ``Patient.name.family`` or
``Observation.code``. Evaluating them through the FHIRPath engine costs about
17 µs each, and a Patient write evaluates some forty of them; walking the
JSON costs about 1 µs and gives the same values. Only paths whose every step
is a known, non-choice element of the R4 model take this road (a choice such
as ``Observation.value`` needs the engine's ``valueQuantity`` handling), and
unions of such paths, and such paths narrowed to a reference target type
(``.where(resolve() is Patient)``); everything else keeps the engine.
``tests/search`` checks both agree on every parameter of every type over a
corpus of resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from fhir_server.fhirpath import R4_MODEL as _MODEL
from fhir_server.fhirpath import split_union

_CHOICES: frozenset[str] = frozenset(_MODEL["choiceTypePaths"])
_TYPES: dict[str, str] = _MODEL["path2Type"]
_ELSEWHERE: dict[str, str] = _MODEL["pathsDefinedElsewhere"]
_KNOWN_PREFIXES: frozenset[str] = frozenset(p.rsplit(".", 1)[0] for p in (*_TYPES, *_CHOICES))
_SIMPLE = re.compile(r"^[A-Z][A-Za-z]*(\.[a-z][A-Za-z0-9]*)+$")
_PRIMITIVE_CONTEXTS = {"Extension", "Element", "BackboneElement", "Resource", "DomainResource"}


def _step_context(path: str) -> str | None:
    """The model path whose children the next step names, or None if unknown."""
    path = _ELSEWHERE.get(path, path)
    type_ = _TYPES.get(path)
    if type_ is not None:
        if type_ in _PRIMITIVE_CONTEXTS or type_[:1].islower() or type_.startswith("System."):
            return None  # primitives and generic elements: leave to the engine
        return type_
    if path in _KNOWN_PREFIXES:
        return path  # a backbone element: its children are keyed by its own path
    return None


_WHERE_RESOLVE = re.compile(r"^(?P<path>[^()]+)\.where\(resolve\(\) is (?P<type>[A-Z][A-Za-z]+)\)$")
Evaluator = Callable[[Any], list[Any]]


def compile_simple(expression: str) -> Evaluator | None:
    """A JSON walker for ``expression``, or None when it must go through the engine.

    Besides plain paths, two shapes common in the base parameters are walked:
    a union of walkable branches (``AuditEvent.agent.who | AuditEvent.entity.what``,
    distinct values in order, like the engine's ``|``) and a reference path
    narrowed by target type (``Observation.subject.where(resolve() is Patient)``:
    the type named by the literal reference, as the engine's ``resolve`` stub
    reads it).
    """
    selected = _SELECT.match(expression.strip())
    if selected is not None:
        return _compile_select(selected["type"], selected["body"])
    branches = split_union(expression)
    if len(branches) == 1:
        return _compile_branch(branches[0])
    compiled = [_compile_branch(b) for b in branches]
    if any(c is None for c in compiled):
        return None
    return _union([c for c in compiled if c is not None])


def _union(evaluators: list[Evaluator]) -> Evaluator:
    """Distinct values of the branches, in order (the engine's ``|``)."""

    def union(resource: Any) -> list[Any]:
        out: list[Any] = []
        seen: set[bytes] = set()
        for evaluate in evaluators:
            for value in evaluate(resource):
                key = orjson.dumps(value, default=_decimal_key, option=orjson.OPT_SORT_KEYS)
                if key not in seen:
                    seen.add(key)
                    out.append(value)
        return out

    return union


# ``Type.select(a | iif(b.exists(), b, 'literal') | ('Type/' + id))``: the shape of the
# access keys the security layer generates (security.compartment), walked on every write.
_SELECT = re.compile(r"^(?P<type>[A-Z][A-Za-z]*)\.select\((?P<body>.*)\)$", re.DOTALL)
_IIF = re.compile(r"^iif\((?P<a>.+)\.exists\(\), (?P<b>.+), '(?P<lit>[^'\\]*)'\)$", re.DOTALL)
_CONCAT_ID = re.compile(r"^\('(?P<prefix>[^'\\]*)' \+ id\)$")
_NARROWED_UNION = re.compile(r"^\((?P<union>.+)\)\.where\(resolve\(\) is (?P<t>[A-Z][A-Za-z]*)\)$")


def _compile_select(type_: str, body: str) -> Evaluator | None:
    if not _balanced(body):
        return None
    terms: list[Evaluator] = []
    for term in split_union(body):
        compiled = _compile_term(type_, term)
        if compiled is None:
            return None
        terms.append(compiled)
    union = _union(terms) if len(terms) > 1 else terms[0]

    def select(resource: Any) -> list[Any]:
        if not isinstance(resource, dict) or resource.get("resourceType") != type_:
            return []
        return union(resource)

    return select


def _compile_term(type_: str, term: str) -> Evaluator | None:
    """One term of a ``select`` body, relative to the resource."""
    iif = _IIF.match(term)
    if iif is not None:
        if iif["a"] != iif["b"]:
            return None
        present = _compile_relative(type_, iif["a"])
        if present is None:
            return None
        literal = iif["lit"]

        def either(resource: Any) -> list[Any]:
            return present(resource) or [literal]

        return either
    concat = _CONCAT_ID.match(term)
    if concat is not None:
        prefix = concat["prefix"]

        def keyed(resource: Any) -> list[Any]:
            id_ = resource.get("id")
            return [prefix + id_] if isinstance(id_, str) else []

        return keyed
    return _compile_relative(type_, term)


def _compile_relative(type_: str, text: str) -> Evaluator | None:
    """A relative path, a union of them, or such a union narrowed to a reference type."""
    text = text.strip()
    narrowed = _NARROWED_UNION.match(text)
    if narrowed is not None and _balanced(narrowed["union"]):
        suffix = f".where(resolve() is {narrowed['t']})"
        branches = [f"{type_}.{b}{suffix}" for b in split_union(narrowed["union"])]
    else:
        branches = [f"{type_}.{b}" for b in split_union(text)]
    compiled = [_compile_branch(b) for b in branches]
    evaluators = [c for c in compiled if c is not None]
    if not evaluators or len(evaluators) != len(compiled):
        return None
    return _union(evaluators) if len(evaluators) > 1 else evaluators[0]


def _compile_branch(text: str) -> Evaluator | None:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    choice = _AS_TYPE.match(text)
    if choice is not None:
        return _compile_choice(choice["path"], choice["type"])
    narrowed = _WHERE_RESOLVE.match(text)
    if narrowed is None:
        return _compile_path(text)
    walk = _compile_path(narrowed["path"])
    if walk is None:
        return None
    wanted = narrowed["type"]

    def of_type(resource: Any) -> list[Any]:
        return [v for v in walk(resource) if _reference_type(v) == wanted]

    return of_type


# ``Observation.value as Quantity``: one type of a choice element, i.e. its ``valueQuantity``.
_AS_TYPE = re.compile(r"^(?P<path>[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z0-9]*)+) as (?P<type>[A-Za-z]+)$")
# ``as T`` also selects T's specialisations (``as uri`` a ``sourceCanonical``): a choice
# that allows one of them is left to the engine.
# Choice types walked (the value given back as the engine shapes it: ``_engine_shape``).
_WALKED_TYPES = frozenset(
    {
        "Boolean",
        "CodeableConcept",
        "Coding",
        "DateTime",
        "Identifier",
        "Instant",
        "Period",
        "Quantity",
        "Range",
        "Ratio",
        "Reference",
        "SampledData",
        "String",
        "Time",
        "Timing",
        "Uri",
    }
)
_PRIMITIVES = frozenset({"Boolean", "DateTime", "Instant", "String", "Time", "Uri"})
_SPECIALISED = {
    "Quantity": {"Age", "Count", "Distance", "Duration", "MoneyQuantity", "SimpleQuantity"},
    "Uri": {"Url", "Canonical", "Oid", "Uuid"},
    "String": {"Code", "Id", "Markdown"},
    "Integer": {"PositiveInt", "UnsignedInt"},
}


def _compile_choice_end(text: str, model_path: str) -> Evaluator | None:
    """A path ending on a choice element, every type of it: ``Observation.effective``."""
    allowed = _MODEL["choiceTypePaths"].get(model_path) or []
    if not allowed or any(t not in _WALKED_TYPES for t in allowed):
        return None
    prefix, _, element = text.rpartition(".")
    keys = [element + t for t in allowed]
    walk = _compile_path(prefix) if "." in prefix else _itself(prefix)
    if walk is None:
        return None

    def choice(resource: Any) -> list[Any]:
        out: list[Any] = []
        for item in walk(resource):
            if not isinstance(item, dict):
                continue
            for key in keys:
                value = item.get(key)
                if value is not None:
                    out.append(_engine_shape(value))
        return out

    return choice


def _choice_key(path: str, type_name: str) -> str | None:
    """``valueQuantity`` for ``Observation.value`` and ``Quantity``, when it may be walked."""
    allowed = _MODEL["choiceTypePaths"].get(path)
    suffix = type_name[:1].upper() + type_name[1:]
    if not allowed or suffix not in allowed:
        return None
    if suffix in _PRIMITIVES and not type_name[:1].islower():
        return None  # ``DateTime`` is System.DateTime, which a FHIR dateTime is not for the engine
    if suffix not in _WALKED_TYPES or _SPECIALISED.get(suffix, set()) & set(allowed):
        return None
    return path.rpartition(".")[2] + suffix


def _compile_choice(path: str, type_name: str) -> Evaluator | None:
    """``X.value as T``: the ``valueT`` key, when ``T`` is one of the choice's own types."""
    key = _choice_key(path, type_name)
    if key is None:
        return None
    prefix = path.rpartition(".")[0]
    if "." not in prefix:
        resource_type = prefix

        def own(resource: Any) -> list[Any]:
            if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
                return []
            value = resource.get(key)
            return [] if value is None else [_engine_shape(value)]

        return own
    walk = _compile_path(prefix)
    if walk is None:
        return None

    def within(resource: Any) -> list[Any]:
        out = []
        for item in walk(resource):
            value = item.get(key) if isinstance(item, dict) else None
            if value is not None:
                out.append(_engine_shape(value))
        return out

    return within


def _decimal_key(value: Any) -> str:
    """A Decimal in a union's distinctness key (orjson does not know it)."""
    if isinstance(value, Decimal):
        return f"decimal:{value}"
    raise TypeError(type(value).__name__)


def _engine_shape(value: Any) -> Any:
    """A value as the engine returns it: decimals as ``Decimal``, extension-only items dropped."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _engine_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        out = [_engine_shape(v) for v in value]
        return [v for v in out if not (isinstance(v, dict) and list(v) == ["extension"])]
    return value


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _reference_type(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or "/" not in ref:
        return None
    return ref.split("/_history/")[0].split("/")[-2]


def _compile_path(text: str) -> Evaluator | None:
    if not _SIMPLE.match(text):
        return None
    head, *steps = text.split(".")
    context: str | None = head
    for i, step in enumerate(steps):
        assert context is not None
        path = f"{context}.{step}"
        if path in _CHOICES and i == len(steps) - 1 and len(steps) > 0:
            return _compile_choice_end(text, path)  # ``Observation.effective``
        if path in _CHOICES or (
            path not in _TYPES and path not in _KNOWN_PREFIXES and _ELSEWHERE.get(path) is None
        ):
            return None
        if i < len(steps) - 1:
            context = _step_context(path)
            if context is None:
                return None
    resource_type = head

    def evaluate(resource: Any) -> list[Any]:
        if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
            return []
        current: list[Any] = [resource]
        for step in steps:
            following: list[Any] = []
            for item in current:
                if not isinstance(item, dict):
                    continue
                value = item.get(step)
                if isinstance(value, list):
                    following.extend(v for v in value if v is not None)
                elif value is not None:
                    following.append(value)
            current = following
        return current

    return evaluate


# -- composites ------------------------------------------------------------------------

Composite = Callable[[Any], list[tuple[Any, list[Evaluator]]]]
_ELEMENT = re.compile(r"^[a-z][A-Za-z0-9]*$")
_AS_CALL = re.compile(r"^(?P<name>[a-z][A-Za-z0-9]*)\.as\((?P<type>[A-Za-z]+)\)$")


def compile_composite(
    resource_type: str, expression: str, components: list[str]
) -> Composite | None:
    """The items of a composite and the walkers of its components, or None for the engine.

    ``Observation | Observation.component`` with components ``code`` and
    ``value.as(Quantity)``: each item (the Observation, each component) paired
    with the walkers of its components, relative to the item's model path, each
    giving what the engine gives on that item's node.
    """
    branches: list[tuple[Evaluator, list[Evaluator]]] = []
    for branch in split_union(expression):
        text = branch.strip()
        if text == resource_type:
            items: Evaluator | None = _itself(resource_type)
            context: str | None = resource_type
        else:
            items = _compile_path(text)
            context = _step_context(text) if items is not None else None
        if items is None or context is None:
            return None
        walkers = [_compile_component(context, c) for c in components]
        if any(w is None for w in walkers):
            return None
        branches.append((items, [w for w in walkers if w is not None]))

    def pairs(resource: Any) -> list[tuple[Any, list[Evaluator]]]:
        return [(item, walkers) for items, walkers in branches for item in items(resource)]

    return pairs


def _itself(resource_type: str) -> Evaluator:
    def itself(resource: Any) -> list[Any]:
        ok = isinstance(resource, dict) and resource.get("resourceType") == resource_type
        return [resource] if ok else []

    return itself


def _compile_component(context: str, expression: str) -> Evaluator | None:
    """``code`` or ``value.as(Quantity)`` (or a union of them) on an item at ``context``."""
    walkers: list[Evaluator] = []
    for branch in split_union(expression):
        text = branch.strip()
        cast = _AS_CALL.match(text)
        if cast is not None:
            key = _choice_key(f"{context}.{cast['name']}", cast["type"])
        elif _ELEMENT.match(text):
            path = f"{context}.{text}"
            known = path in _TYPES or _ELSEWHERE.get(path) is not None
            key = text if known and path not in _CHOICES else None
        else:
            key = None
        if key is None:
            return None
        walkers.append(_key_walker(key))
    return _union(walkers) if len(walkers) > 1 else walkers[0]


def _key_walker(key: str) -> Evaluator:
    def walk(item: Any) -> list[Any]:
        value = item.get(key) if isinstance(item, dict) else None
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [_engine_shape(v) for v in values if v is not None]

    return walk
