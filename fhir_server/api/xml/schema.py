"""The shape of FHIR R4 XML, read from the StructureDefinitions the server ships.

XML and JSON carry the same content but differ where JSON has no word for
something (https://hl7.org/fhir/R4/xml.html, https://hl7.org/fhir/R4/json.html):
XML elements come in the order of the definition, primitive values sit in a
``value`` attribute (JSON: a string, number or boolean, with ``_name`` for
their id and extensions), a few properties are XML attributes (the
``representation: xmlAttr`` of the definitions: ``Element.id`` and
``Extension.url``), resources inside resources are wrapped in their container
element, and the narrative ``div`` is XHTML. Everything this module knows comes
from ``fhir_server/data/fhir-r4/structuredefinitions.json.gz``, so a type is
never described twice; the reader and the writer consult the same ``TypeInfo``.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson

DEFINITIONS = (
    Path(__file__).resolve().parents[2] / "data" / "fhir-r4" / "structuredefinitions.json.gz"
)
FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
SYSTEM = "http://hl7.org/fhirpath/System."

# How a primitive's value is written in JSON (json.html: boolean, number, or string).
JsonKind = Literal["boolean", "integer", "decimal", "string"]
_SYSTEM_KINDS: dict[str, JsonKind] = {
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
}


@dataclass(eq=False)
class TypeInfo:
    """A data type, resource or backbone element: its elements by JSON/XML name.

    ``kind`` says how a value of this type is written: ``complex`` (child
    elements), ``primitive`` (a ``value`` attribute), ``resource`` (a resource
    root), ``container`` (an element wrapping one resource: ``contained``,
    ``Bundle.entry.resource``) or ``xhtml`` (the narrative ``div``).
    """

    name: str
    kind: Literal["complex", "primitive", "resource", "container", "xhtml"]
    json_kind: JsonKind = "string"
    fields: dict[str, Field] = field(default_factory=dict)  # concrete name -> field
    by_tag: dict[str, Field] = field(default_factory=dict)  # qualified XML name -> field
    attributes: frozenset[str] = frozenset()  # names written as XML attributes


@dataclass(eq=False)
class Field:
    """One element of a type, under one concrete name (``valueQuantity``, not ``value[x]``)."""

    name: str
    order: int  # position of its definition: XML order
    slot: str  # the definition's name (``value[x]``): choices of one slot exclude each other
    repeats: bool
    type_name: str
    tag: str  # the element's qualified XML name
    _schema: Schema = field(repr=False)
    _type: TypeInfo | None = field(default=None, repr=False)

    @property
    def type(self) -> TypeInfo:
        if self._type is None:  # resolved on first use: types refer to each other
            self._type = self._schema.type(self.type_name)
        return self._type


class Schema:
    """Every R4 type, built lazily from the shipped snapshots and cached."""

    def __init__(self, definitions: list[dict[str, Any]]) -> None:
        self._sds: dict[str, dict[str, Any]] = {}
        for sd in definitions:
            if sd.get("derivation") == "constraint":  # SimpleQuantity & co share their base's shape
                continue
            self._sds[sd["type"]] = sd
        # element path -> its direct children, for every snapshot
        self._children: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._elements: dict[str, dict[str, Any]] = {}
        for sd in self._sds.values():
            for element in sd.get("snapshot", {}).get("element", []):
                if element.get("sliceName"):
                    continue
                path = element["path"]
                self._elements[path] = element
                if "." in path:
                    self._children[path.rsplit(".", 1)[0]].append(element)
        self._types: dict[str, TypeInfo] = {}
        self.resource_types = frozenset(
            name
            for name, sd in self._sds.items()
            if sd.get("kind") == "resource" and not sd.get("abstract")
        )

    def resource(self, name: str) -> TypeInfo | None:
        return self.type(name) if name in self.resource_types else None

    def type(self, name: str) -> TypeInfo:
        """A type by name: a type code (``HumanName``), or an element path for a backbone."""
        info = self._types.get(name)
        if info is None:
            info = self._build(name)
        return info

    def _build(self, name: str) -> TypeInfo:
        if name.startswith(SYSTEM):  # Resource.id and other bare system strings
            info = TypeInfo(name, "primitive", _SYSTEM_KINDS.get(name[len(SYSTEM) :], "string"))
            self._types[name] = info
            return info
        if name == "Resource":
            info = TypeInfo(name, "container")
            self._types[name] = info
            return info
        sd = self._sds.get(name)
        if sd is not None and sd.get("kind") == "primitive-type":
            json_kind = self._primitive_kind(name)
            info = TypeInfo(name, "xhtml" if name == "xhtml" else "primitive", json_kind)
            self._types[name] = info
            return info
        if sd is None and name not in self._elements:
            raise KeyError(f"no definition for FHIR type {name}")
        kind: Literal["complex", "resource"] = (
            "resource" if sd is not None and sd.get("kind") == "resource" else "complex"
        )
        info = TypeInfo(name, kind)
        self._types[name] = info  # before the fields: types refer to themselves
        root = name if sd is None else sd["snapshot"]["element"][0]["path"]
        attributes: set[str] = set()
        for order, element in enumerate(self._children.get(root, [])):
            slot = element["path"].rsplit(".", 1)[1]
            if "xmlAttr" in element.get("representation", ()):
                attributes.add(slot)
                continue
            repeats = element.get("max") not in ("0", "1")
            for concrete, type_name in self._concrete(element, slot):
                f = Field(
                    concrete, order, slot, repeats, type_name, _tag(type_name, concrete), self
                )
                info.fields[concrete] = f
                info.by_tag[f.tag] = f
        info.attributes = frozenset(attributes)
        return info

    def _concrete(self, element: dict[str, Any], slot: str) -> list[tuple[str, str]]:
        """(element name, type name) pairs: one per type for a choice ``name[x]``."""
        path = element["path"]
        if "contentReference" in element:  # Questionnaire.item.item -> Questionnaire.item
            return [(slot, element["contentReference"].lstrip("#").split("#")[-1])]
        codes = [t["code"] for t in element.get("type", [])]
        if slot.endswith("[x]"):
            base = slot[:-3]
            return [(base + code[0].upper() + code[1:], code) for code in codes]
        if path in self._children:  # a backbone element defined inline
            return [(slot, path)]
        if self._sds.get(codes[0], {}).get("kind") == "resource":
            # an element holding a resource (Bundle.entry.response.outcome: OperationOutcome)
            # is written like any resource container: <outcome><OperationOutcome>
            return [(slot, "Resource")]
        return [(slot, codes[0])]

    def _primitive_kind(self, name: str) -> JsonKind:
        """Follow ``baseDefinition`` until a system type says boolean or number."""
        current: str | None = name
        while current is not None:
            element = self._elements.get(f"{current}.value")
            for t in (element or {}).get("type", []):
                kind = _SYSTEM_KINDS.get(t["code"].removeprefix(SYSTEM))
                if kind is not None:
                    return kind
            base = self._sds.get(current, {}).get("baseDefinition", "")
            parent = base.rsplit("/", 1)[-1] if base else None
            sd = self._sds.get(parent or "")
            current = parent if sd is not None and sd.get("kind") == "primitive-type" else None
        return "string"


def _tag(type_name: str, concrete: str) -> str:
    ns = XHTML_NS if type_name == "xhtml" else FHIR_NS
    return f"{{{ns}}}{concrete}"


@cache
def schema() -> Schema:
    """The R4 schema, loaded once per process (the definitions are immutable)."""
    bundle = orjson.loads(gzip.decompress(DEFINITIONS.read_bytes()))
    return Schema([entry["resource"] for entry in bundle.get("entry", [])])
