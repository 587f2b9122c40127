"""The compiled form of a StructureDefinition: a tree of element rules.

A differential is a flat list of ElementDefinitions keyed by id
(``Patient.identifier:ins.system``). The compiler turns it once into a tree
that mirrors the JSON shape of an instance - one ``ElementRule`` per element,
children by JSON key, slices under the element they slice - so validation is
a single walk of the instance alongside the tree, with every FHIRPath
invariant already compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.profiles.predicates import Predicate


@dataclass(frozen=True)
class TypeRef:
    """One allowed type of an element, with the profiles it must conform to."""

    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Binding:
    strength: str  # required | extensible (others are not checked)
    value_set: str


@dataclass
class Invariant:
    """A ``constraint`` with its FHIRPath expression compiled once."""

    key: str
    severity: str
    human: str
    expression: str
    predicate: Predicate | None  # None when the expression failed to parse
    base_path: str  # the type/path fhirpathpy uses to resolve choice elements


@dataclass(frozen=True)
class Discriminator:
    type: str  # value | pattern | exists | type | profile
    path: str


@dataclass
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str = "open"  # open | closed | openAtEnd
    ordered: bool = False


@dataclass
class SliceMatcher:
    """How to recognise an instance item belonging to one slice.

    Each check is ``(discriminator, kind, expected)``; ``kind`` is ``fixed``,
    ``pattern``, ``binding`` (expected = value-set URL), ``exists`` (expected =
    bool) or ``type`` (expected = set of type codes).
    """

    checks: list[tuple[Discriminator, str, Any]]
    usable: bool = True


@dataclass
class ElementRule:
    """The constraints on one element (or one slice of it) of a profile."""

    id: str
    path: str
    name: str  # JSON key; ``value[x]`` for a choice, ``valueQuantity`` for one choice type
    choice_prefix: str | None = None  # "value" when the rule matches value<Type> keys
    choice_type: str | None = None  # "Quantity" for a rule bound to valueQuantity only
    slice_name: str | None = None
    min: int | None = None
    max: int | None = None  # None: unbounded or not constrained
    fixed: Any = None
    fixed_kind: str | None = None  # "fixed" | "pattern"
    fixed_type: str | None = None  # suffix of fixed[x]/pattern[x], e.g. "CodeableConcept"
    binding: Binding | None = None
    types: tuple[TypeRef, ...] = ()
    type_restricted: bool = False  # the profile narrowed the types (check them)
    constraints: list[Invariant] = field(default_factory=list)
    children: dict[str, ElementRule] = field(default_factory=dict)
    slicing: Slicing | None = None
    slices: list[ElementRule] = field(default_factory=list)
    matcher: SliceMatcher | None = None  # set on slices
    content_reference: str | None = None  # base snapshots: "#Questionnaire.item"

    @property
    def display_name(self) -> str:
        """The element's name in a FHIRPath location (``value`` for ``value[x]``)."""
        return self.choice_prefix if self.choice_prefix is not None else self.name

    def child_slice(self, name: str) -> ElementRule | None:
        for s in self.slices:
            if s.slice_name == name:
                return s
        return None


@dataclass
class CompiledProfile:
    """A profile ready to validate: its root rule and where it came from."""

    url: str
    type: str
    name: str
    root: ElementRule
    base_profile: str | None = None  # a non-core base definition to validate too
    contexts: frozenset[str] = frozenset()  # extensions: element paths/types it may be used on
    warnings: list[str] = field(default_factory=list)
