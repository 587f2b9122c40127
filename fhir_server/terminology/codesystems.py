"""Local CodeSystems, indexed once for lookups and hierarchy filters.

A FHIR CodeSystem nests concepts to express ``is-a`` (when its
``hierarchyMeaning`` is ``is-a`` or absent) and may also link them through the
``parent``/``child`` properties. Both are flattened here into one index of
``code -> Concept`` with parent and child sets, so that ``$lookup`` and the
``is-a`` / ``descendent-of`` filters of value-set expansion are dictionary
walks, not tree searches repeated per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Concept:
    """One concept of a local code system, flattened out of its nesting."""

    code: str
    display: str | None = None
    definition: str | None = None
    designations: list[dict[str, Any]] = field(default_factory=list)
    properties: list[dict[str, Any]] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)

    def property_values(self, code: str) -> list[Any]:
        """The values of every property named ``code`` on this concept."""
        out = []
        for prop in self.properties:
            if prop.get("code") != code:
                continue
            for key, value in prop.items():
                if key.startswith("value"):
                    out.append(value)
        return out

    @property
    def abstract(self) -> bool:
        """A concept marked ``notSelectable`` may group others but not be used."""
        return any(v is True for v in self.property_values("notSelectable"))

    @property
    def inactive(self) -> bool:
        status = self.property_values("status")
        return any(v is True for v in self.property_values("inactive")) or any(
            v in ("retired", "inactive") for v in status
        )


class LocalCodeSystem:
    """A CodeSystem resource with its concepts indexed by code."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        self.url: str = resource["url"]
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or resource.get("id", "")
        self.case_sensitive: bool = bool(resource.get("caseSensitive", True))
        # "fragment"/"example" systems cannot prove that a code does not exist.
        self.complete: bool = resource.get("content", "complete") == "complete"
        self.concepts: dict[str, Concept] = {}
        self._folded: dict[str, str] = {}
        self._add(resource.get("concept", []), parent=None)
        for concept in self.concepts.values():
            for parent in concept.property_values("parent") + concept.property_values("subsumedBy"):
                if isinstance(parent, str) and parent in self.concepts:
                    concept.parents.add(parent)
                    self.concepts[parent].children.add(concept.code)
            for child in concept.property_values("child"):
                if isinstance(child, str) and child in self.concepts:
                    concept.children.add(child)
                    self.concepts[child].parents.add(concept.code)

    def _add(self, concepts: list[dict[str, Any]], parent: str | None) -> None:
        for raw in concepts:
            code = raw.get("code")
            if not isinstance(code, str):
                continue
            concept = self.concepts.get(code)
            if concept is None:
                concept = Concept(
                    code=code,
                    display=raw.get("display"),
                    definition=raw.get("definition"),
                    designations=list(raw.get("designation", [])),
                    properties=list(raw.get("property", [])),
                )
                self.concepts[code] = concept
                self._folded.setdefault(code.lower(), code)
            if parent is not None:
                concept.parents.add(parent)
                self.concepts[parent].children.add(code)
            self._add(raw.get("concept", []), parent=code)

    def get(self, code: str) -> Concept | None:
        """The concept for ``code``, honouring ``caseSensitive``."""
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            real = self._folded.get(code.lower())
            concept = self.concepts.get(real) if real else None
        return concept

    def descendants(self, code: str) -> set[str]:
        """Every code below ``code`` (excluding itself), cycles tolerated."""
        seen: set[str] = set()
        todo = list(self.concepts[code].children) if code in self.concepts else []
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(self.concepts[current].children)
        seen.discard(code)
        return seen

    def ancestors(self, code: str) -> set[str]:
        """Every code above ``code`` (excluding itself)."""
        seen: set[str] = set()
        todo = list(self.concepts[code].parents) if code in self.concepts else []
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(self.concepts[current].parents)
        seen.discard(code)
        return seen

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())
