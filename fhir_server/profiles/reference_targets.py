"""Where a resource holds References, and which resource types each may point to.

The R4 StructureDefinitions shipped in ``fhir_server/data/fhir-r4`` say, for
every element of type ``Reference``, its allowed targets (``targetProfile``:
``Observation.subject`` -> Patient, Group, Device, Location). This module
turns the snapshots once into a table keyed by element path and JSON key, and
walks a resource's JSON alongside it, yielding every Reference with its
FHIRPath location and allowed target types - through backbone elements, data
types (``Identifier.assigner``), choice types (``valueReference``),
``contentReference`` recursion (``Questionnaire.item.item``), extensions
anywhere (``extension[].valueReference`` may point to anything) and contained
resources.

Resources nested as data rather than contained (``Bundle.entry.resource``,
``Parameters.parameter.resource``) are not walked: a stored document or
message is a snapshot whose internal references belong to it, not links of
this server. Profiles that narrow targets further are the validator's job
(``checks/types.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_server.profiles.conformance import CORE_SD_PREFIX, core_structure_definitions

# Data types whose content is not walked for references by type (they hold none,
# or only through extensions, which are walked wherever they are).
_OPAQUE = frozenset({"xhtml", "Narrative"})
_EXTENSION_KEYS = ("extension", "modifierExtension")


@dataclass(frozen=True)
class Child:
    """What one JSON key of an element holds."""

    kind: str  # "reference" | "type" | "backbone" | "contained" | "opaque"
    target: str  # data type name (type, reference) or element path (backbone)
    targets: frozenset[str] | None = None  # reference: allowed types; None = any


@dataclass(frozen=True)
class FoundReference:
    """One Reference in a resource: where it is and what it may point to."""

    location: str  # FHIRPath location, e.g. ``Observation.performer[1]``
    value: dict[str, Any]  # the Reference JSON object
    targets: frozenset[str] | None  # allowed target types; None = any type
    resource: dict[str, Any]  # the resource holding it (a contained one, or the root)


class ReferenceMap:
    """Element path -> JSON key -> ``Child``, for every core resource and data type."""

    def __init__(self, snapshots: Iterable[dict[str, Any]]) -> None:
        self.resource_types: frozenset[str] = frozenset()
        self._children: dict[str, dict[str, Child]] = {}
        resource_types = set()
        for sd in snapshots:
            if sd.get("derivation") == "constraint":
                continue
            if sd.get("kind") == "resource":
                resource_types.add(sd["type"])
            for element in sd.get("snapshot", {}).get("element", []):
                self._add(element)
        self.resource_types = frozenset(resource_types)

    def _add(self, element: dict[str, Any]) -> None:
        path: str = element["path"]
        if "." not in path:
            self._children.setdefault(path, {})
            return
        parent, name = path.rsplit(".", 1)
        children = self._children.setdefault(parent, {})
        if name in _EXTENSION_KEYS or name == "id":
            return  # extensions are walked wherever they appear
        if element.get("contentReference"):
            children[name] = Child("backbone", element["contentReference"].lstrip("#"))
            return
        types = element.get("type") or []
        for t in types:
            code = t.get("code", "")
            key = name
            if name.endswith("[x]"):
                key = name[:-3] + code[:1].upper() + code[1:]
            child = self._child(path, code, t.get("targetProfile") or [])
            if child is not None:
                children[key] = child

    def _child(self, path: str, code: str, target_profiles: list[str]) -> Child | None:
        if code == "Reference":
            names = {_type_of(url) for url in target_profiles}
            if not names or None in names or names & {"Resource", "DomainResource"}:
                return Child("reference", "Reference", None)
            return Child("reference", "Reference", frozenset(n for n in names if n))
        if code in ("BackboneElement", "Element"):
            return Child("backbone", path)
        if code == "Resource":  # Bundle.entry.resource & co. hold data, not links of ours
            return Child("contained" if path.endswith(".contained") else "opaque", "Resource")
        if code[:1].isupper() and code not in _OPAQUE:
            return Child("type", code)
        return None  # primitives: only their ``_x`` extensions matter

    def references(self, resource: dict[str, Any]) -> Iterator[FoundReference]:
        """Every Reference in ``resource`` (and its contained resources)."""
        rtype = resource.get("resourceType")
        if isinstance(rtype, str):
            yield from self._walk(resource, rtype, rtype, resource)

    def _walk(
        self, node: dict[str, Any], element: str | None, loc: str, holder: dict[str, Any]
    ) -> Iterator[FoundReference]:
        children = self._children.get(element, {}) if element is not None else {}
        for key, value in node.items():
            if key in ("resourceType", "id"):
                continue
            child = children.get(key)
            if key in _EXTENSION_KEYS:
                child = Child("type", "Extension")
            for index, item in _items(value):
                where = f"{loc}.{key}" if index is None else f"{loc}.{key}[{index}]"
                if not isinstance(item, dict):
                    continue
                if child is not None and child.kind == "opaque":
                    continue
                if child is None:  # a primitive's ``_x`` sibling, or data we do not model
                    yield from self._walk(item, None, where, holder)
                elif child.kind == "reference":
                    yield FoundReference(where, item, child.targets, holder)
                    yield from self._walk(item, "Reference", where, holder)
                elif child.kind == "contained":
                    inner = item.get("resourceType")
                    if isinstance(inner, str):
                        yield from self._walk(item, inner, where, item)
                else:
                    yield from self._walk(item, child.target, where, holder)


def _items(value: Any) -> Iterator[tuple[int | None, Any]]:
    if isinstance(value, list):
        yield from enumerate(value)
    else:
        yield None, value


def _type_of(url: str) -> str | None:
    """``http://hl7.org/fhir/StructureDefinition/Patient`` -> ``Patient``."""
    if not url.startswith(CORE_SD_PREFIX):
        return None
    return url[len(CORE_SD_PREFIX) :].split("|", 1)[0] or None


@cache
def core_map() -> ReferenceMap:
    """The map of the R4 core definitions this server ships (built once, ~50 ms)."""
    return ReferenceMap(core_structure_definitions())
