"""The R4 element tables: which JSON properties each type allows, and their types.

Built from the core StructureDefinition snapshots shipped in
``fhir_server/data/fhir-r4/structuredefinitions.json.gz`` (generated from the
official R4 definitions by ``scripts/gen_fhir_definitions.py``), so the strict
JSON reader (``profiles/strict_json.py``) follows the specification's own
data rather than a hand-written copy of it. A ``Shape`` is what one JSON object
may hold: a resource, a data type, or a backbone element of either. Shapes are
built on first use and cached, so a server that never sees a ``Contract``
never pays for one; the one table per type is shared by every request.

Two corrections to the published 4.0.1 snapshots, both fixed in R4B: the
``id`` of a resource is typed ``string`` in the snapshot but is an ``id`` on
every resource page (and in R4B), and ``base64Binary``'s regex is kept as
published (it accepts ``/``, as it must).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

import orjson

SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
RESOURCE = "Resource"
# Element types whose children are listed inline, under the element's own path.
INLINE_TYPES = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True, slots=True)
class Primitive:
    """A primitive type's JSON rule: its JSON kind and, for strings, its regex."""

    code: str
    json: str  # "boolean" | "integer" | "decimal" | "string"
    pattern: re.Pattern[str] | None
    max_length: int | None
    low: int = 0  # integers only: the range R4 allows
    high: int = 0


@dataclass(slots=True)
class Prop:
    """One JSON property of a shape (``given``, ``valueQuantity``, ``contained``)."""

    name: str
    type_code: str
    array: bool
    max: int | None  # None: unbounded
    primitive: Primitive | None = None
    inline: Shape | None = None  # a backbone element's own children
    choice: str | None = None  # the choice group (``value`` for ``value[x]``)

    @property
    def is_resource(self) -> bool:
        return self.type_code == RESOURCE


@dataclass(slots=True)
class Shape:
    """What one JSON object of a type (or backbone element) may hold."""

    path: str
    props: dict[str, Prop] = field(default_factory=dict)
    # (element path, JSON names that satisfy it, ``_name`` included) for every element
    # with min >= 1
    required: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # choice group -> its JSON names
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    is_resource: bool = False


@cache
def _definitions() -> dict[str, dict[str, Any]]:
    """Core StructureDefinitions by type (specialisations only, not SimpleQuantity)."""
    raw = importlib_resources.files("fhir_server.data").joinpath(
        "fhir-r4/structuredefinitions.json.gz"
    )
    bundle = orjson.loads(gzip.decompress(raw.read_bytes()))
    out: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry", []):
        sd = entry["resource"]
        if sd.get("derivation") != "constraint":
            out[sd["type"]] = sd
    return out


def _upper_first(code: str) -> str:
    return code[0].upper() + code[1:]


@cache
def primitive(code: str) -> Primitive | None:
    """The JSON rule of primitive type ``code``, or None for a complex type."""
    sd = _definitions().get(code)
    if sd is None or sd.get("kind") != "primitive-type":
        return None
    regex: str | None = None
    max_length: int | None = None
    for el in sd["snapshot"]["element"]:
        if el["path"] == f"{code}.value":
            max_length = el.get("maxLength")
            for t in el.get("type", []):
                regex = t.get("regex", regex)
    kind = {"boolean": "boolean", "decimal": "decimal"}.get(code, "string")
    low = high = 0
    if code in ("integer", "positiveInt", "unsignedInt"):
        kind = "integer"
        low = {"integer": -(2**31), "positiveInt": 1, "unsignedInt": 0}[code]
        high = 2**31 - 1
    # The spec's regexes use XML Schema classes: \s is space, tab, CR, LF and \S
    # everything else (a non-breaking space included); re.ASCII gives that reading.
    pattern = re.compile(regex, re.ASCII) if regex and kind == "string" else None
    return Primitive(code, kind, pattern, max_length, low, high)


def _fhir_type(type_: dict[str, Any], path: str, owner: str) -> str:
    code: str = type_["code"]
    if not code.startswith(SYSTEM_PREFIX):
        return code
    if path == f"{owner}.id" and _definitions()[owner].get("kind") == "resource":
        return "id"  # 4.0.1 erratum: Resource.id is an id (resource.html, R4B)
    return str(type_.get("fhirType") or "string")


@cache
def shape(type_code: str) -> Shape | None:
    """The shape of a resource or complex data type; None for unknown or primitive types."""
    sd = _definitions().get(type_code)
    if sd is None or sd.get("kind") == "primitive-type":
        return None
    elements: list[dict[str, Any]] = sd["snapshot"]["element"]
    owner = sd["type"]
    shapes: dict[str, Shape] = {owner: Shape(owner, is_resource=sd.get("kind") == "resource")}
    parents = {el["path"].rsplit(".", 1)[0] for el in elements if "." in el["path"]}
    for el in elements:  # every element with children gets a shape of its own first
        if el["path"] in parents and el["path"] != owner:
            shapes[el["path"]] = Shape(el["path"])
    for el in elements:
        path: str = el["path"]
        if "." not in path:
            continue
        parent, name = path.rsplit(".", 1)
        holder = shapes[parent]
        max_text = el.get("max", "*")
        if max_text == "0":
            continue  # prohibited: stays unknown, so its presence is refused
        array = max_text != "1"
        max_count = None if max_text == "*" else int(max_text)
        reference = el.get("contentReference")
        if reference:  # e.g. Questionnaire.item.item -> #Questionnaire.item
            prop = Prop(name, "BackboneElement", array, max_count)
            prop.inline = shapes[reference.lstrip("#")]
            holder.props[name] = prop
            _require(holder, el, (name,))
            continue
        types = el.get("type", [])
        if name.endswith("[x]"):
            base = name[:-3]
            names = []
            for t in types:
                code = _fhir_type(t, path, owner)
                key = base + _upper_first(code)
                holder.props[key] = Prop(key, code, False, 1, primitive(code), choice=base)
                names.append(key)
            holder.choices[base] = tuple(names)
            _require(holder, el, tuple(names))
            continue
        code = _fhir_type(types[0], path, owner) if types else "BackboneElement"
        prop = Prop(name, code, array, max_count, primitive(code))
        if path in shapes and code in INLINE_TYPES:
            prop.inline = shapes[path]
        holder.props[name] = prop
        _require(holder, el, (name,))
    return shapes[owner]


def _require(holder: Shape, el: dict[str, Any], names: tuple[str, ...]) -> None:
    """A required element is present as itself or, for a primitive, as its ``_name``."""
    if el.get("min", 0) >= 1:
        holder.required.append((el["path"], names + tuple(f"_{n}" for n in names)))


def is_resource_type(type_code: str) -> bool:
    sd = _definitions().get(type_code)
    return sd is not None and sd.get("kind") == "resource" and not sd.get("abstract", False)
