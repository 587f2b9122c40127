"""Compile StructureDefinitions into ``ElementRule`` trees, once, at load time.

Two modes:

* **profile** (``compile_profile``): an IG profile or extension read from its
  *differential*. Every constraint the differential states is kept:
  cardinality, fixed/pattern, required/extensible bindings, type and
  target-profile narrowing, slicing, invariants. What the differential does
  not restate is the base resource's business and is checked separately.
* **base** (``compile_base``): a core resource or data type read from its
  reduced *snapshot*, keeping only what the structural check does not
  already check and what is cheap: required bindings and error-level
  invariants, as the reference validators evaluate them (``core_corrections``:
  corrected texts, and ``ele-1``/``ext-1``/``txt-*`` left to the structural
  check). The
  validator descends from an element into its data type's base rules lazily,
  so recursive types (``Identifier.assigner.identifier``) cost nothing until
  data makes them real.

Slice matchers (what identifies an item of each slice) are derived here from
the discriminators and the slice's fixed/pattern/binding/type-profile
values, so matching at validation time is a comparison, not a search.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_server.fhirpath import Compiler
from fhir_server.profiles import core_corrections
from fhir_server.profiles.conformance import ConformanceSource
from fhir_server.profiles.functions import compile_or_none
from fhir_server.profiles.model import (
    Binding,
    CompiledProfile,
    Discriminator,
    ElementRule,
    Invariant,
    SliceMatcher,
    Slicing,
    TypeRef,
)
from fhir_server.profiles.predicates import compile_predicate

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
_EXT_FN = re.compile(r"""^extension\(\s*['"](?P<url>[^'"]+)['"]\s*\)$""")


def split_id(element_id: str) -> list[tuple[str, str | None]]:
    """``Patient.identifier:ins.system`` -> [(Patient, None), (identifier, ins), (system, None)].

    Dots inside a slice name are not supported (FHIR discourages them).
    """
    out: list[tuple[str, str | None]] = []
    for segment in element_id.split("."):
        name, _, slice_name = segment.partition(":")
        out.append((name, slice_name or None))
    return out


def split_path(path: str) -> list[str]:
    """Split a discriminator path on dots outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in path:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]


class ProfileCompiler:
    """Turns StructureDefinitions into rule trees; caches nothing itself."""

    def __init__(self, source: ConformanceSource, fhirpath: Compiler) -> None:
        self.source = source
        self.fhirpath = fhirpath
        self._compile = compile_or_none(fhirpath)
        # "DateTime" -> "dateTime": the suffix of a choice key to its type code.
        self.type_suffixes: dict[str, str] = {}
        self.choice_paths: set[str] = set()
        for sd in source.base_snapshots.values():
            if (
                sd.get("kind") in ("primitive-type", "complex-type")
                and sd.get("derivation") != "constraint"
            ):
                code = sd["type"]
                self.type_suffixes[code[0].upper() + code[1:]] = code
            for el in sd.get("snapshot", {}).get("element", []):
                if el["path"].endswith("[x]"):
                    self.choice_paths.add(el["path"])
        if not self.type_suffixes:  # no core data: the usual suspects
            for code in (
                "string",
                "code",
                "boolean",
                "integer",
                "decimal",
                "dateTime",
                "date",
                "uri",
                "Quantity",
                "CodeableConcept",
                "Coding",
                "Reference",
                "Period",
                "Address",
                "HumanName",
                "Identifier",
            ):
                self.type_suffixes[code[0].upper() + code[1:]] = code

    # -- entry points -------------------------------------------------------

    def compile_profile(self, sd: dict[str, Any]) -> CompiledProfile:
        """A profile (or extension definition) from its differential."""
        elements = (sd.get("differential") or sd.get("snapshot") or {}).get("element", [])
        warnings: list[str] = []
        root = self._build(elements, base_mode=False, warnings=warnings)
        if root is None:
            root = ElementRule(
                id=sd.get("type", ""), path=sd.get("type", ""), name=sd.get("type", "")
            )
        self._finalize(root, warnings, sd.get("url", ""))
        base = sd.get("baseDefinition")
        base_profile = None
        if base and not base.startswith(CORE_PREFIX):
            base_profile = base
        elif base and base.startswith(CORE_PREFIX):
            base_sd = self.source.structure_definition(base)
            if (
                base_sd is not None
                and base_sd.get("derivation") == "constraint"
                and (base_sd.get("differential"))
            ):
                base_profile = base
        return CompiledProfile(
            url=sd.get("url", ""),
            type=sd.get("type", root.path),
            name=sd.get("name") or sd.get("id") or sd.get("url", ""),
            root=root,
            base_profile=base_profile,
            contexts=frozenset(
                c["expression"]
                for c in sd.get("context", [])
                if c.get("type") == "element" and c.get("expression")
            )
            if all(c.get("type") == "element" for c in sd.get("context", []))
            else frozenset(),
            warnings=warnings,
        )

    def compile_base(self, type_name: str) -> CompiledProfile | None:
        """A core type's cheap checks (required bindings, invariants) from its snapshot."""
        sd = self.source.base_snapshots.get(type_name)
        if sd is None:
            return None
        elements = [
            el
            for el in sd.get("snapshot", {}).get("element", [])
            if el["path"].rsplit(".", 1)[-1] not in ("extension", "modifierExtension", "id")
            or "." not in el["path"]
        ]
        warnings: list[str] = []
        root = self._build(elements, base_mode=True, warnings=warnings)
        if root is None:
            return None
        return CompiledProfile(
            url=sd["url"], type=type_name, name=type_name, root=root, warnings=warnings
        )

    # -- tree building ------------------------------------------------------

    def _build(
        self, elements: list[dict[str, Any]], *, base_mode: bool, warnings: list[str]
    ) -> ElementRule | None:
        root: ElementRule | None = None
        slice_ids: dict[str, str] = {}  # path -> id of the slice being described
        for el in elements:
            element_id = el.get("id") or self._synthesize_id(el, slice_ids)
            segments = split_id(element_id)
            if root is None:
                root = ElementRule(id=segments[0][0], path=segments[0][0], name=segments[0][0])
            rule = self._locate(root, segments, element_id)
            self._apply(rule, el, base_mode=base_mode, warnings=warnings)
        return root

    @staticmethod
    def _synthesize_id(el: dict[str, Any], slice_ids: dict[str, str]) -> str:
        """Rebuild an element id for differentials written with paths only."""
        path: str = el["path"]
        prefix = max((p for p in slice_ids if path.startswith(p + ".")), key=len, default=None)
        base_id = slice_ids[prefix] + path[len(prefix) :] if prefix else path
        if el.get("sliceName"):
            element_id = f"{base_id}:{el['sliceName']}"
            slice_ids[path] = element_id
            return element_id
        slice_ids.pop(path, None)
        return base_id

    def _choice_of(self, parent_path: str, name: str) -> tuple[str, str] | None:
        """(prefix, type) when ``name`` is one type of a choice, e.g. valueQuantity."""
        for i in range(1, len(name)):
            if not name[i].isupper():
                continue
            prefix, suffix = name[:i], name[i:]
            if suffix in self.type_suffixes and (
                f"{parent_path}.{prefix}[x]" in self.choice_paths
                or prefix == "value"
                or f"{parent_path.rsplit('.', 1)[-1]}.{prefix}[x]" in self.choice_paths
            ):
                return prefix, self.type_suffixes[suffix]
        return None

    def _locate(
        self, root: ElementRule, segments: list[tuple[str, str | None]], element_id: str
    ) -> ElementRule:
        current = root
        for index, (raw_name, slice_name) in enumerate(segments[1:], start=1):
            name = raw_name
            choice_prefix: str | None = None
            choice_type: str | None = None
            if name.endswith("[x]"):
                prefix = name[:-3]
                if (
                    slice_name
                    and slice_name.startswith(prefix)
                    and (slice_name[len(prefix) :] in self.type_suffixes)
                ):
                    # A type slice "value[x]:valueQuantity" is the rule for valueQuantity.
                    name = slice_name
                    choice_type = self.type_suffixes[slice_name[len(prefix) :]]
                    slice_name = None
                choice_prefix = prefix
            else:
                found = self._choice_of(current.path, name)
                if found is not None:
                    choice_prefix, choice_type = found
            child = current.children.get(name)
            if child is None:
                path_name = f"{choice_prefix}[x]" if choice_prefix is not None else name
                child_id = (
                    ".".join(n + (f":{s}" if s else "") for n, s in segments[:index])
                    + f".{raw_name}"
                )
                child = ElementRule(
                    id=child_id,
                    path=f"{current.path}.{path_name}",
                    name=name,
                    choice_prefix=choice_prefix,
                    choice_type=choice_type,
                )
                current.children[name] = child
            if slice_name:
                sliced = child.child_slice(slice_name)
                if sliced is None:
                    sliced = ElementRule(
                        id=".".join(n + (f":{s}" if s else "") for n, s in segments[: index + 1]),
                        path=child.path,
                        name=child.name,
                        choice_prefix=child.choice_prefix,
                        choice_type=child.choice_type,
                        slice_name=slice_name,
                    )
                    child.slices.append(sliced)
                current = sliced
            else:
                current = child
        return current

    def _apply(
        self, rule: ElementRule, el: dict[str, Any], *, base_mode: bool, warnings: list[str]
    ) -> None:
        if not base_mode:
            if "min" in el:
                rule.min = int(el["min"])
            if "max" in el:
                rule.max = None if el["max"] == "*" else int(el["max"])
            for key, value in el.items():
                if key.startswith("fixed") and len(key) > 5:
                    rule.fixed, rule.fixed_kind, rule.fixed_type = value, "fixed", key[5:]
                elif key.startswith("pattern") and len(key) > 7:
                    rule.fixed, rule.fixed_kind, rule.fixed_type = value, "pattern", key[7:]
        binding = el.get("binding")
        if binding and binding.get("valueSet"):
            strength = binding.get("strength")
            if strength == "required" or (strength == "extensible" and not base_mode):
                rule.binding = Binding(strength, binding["valueSet"])
        if el.get("type"):
            rule.types = tuple(
                TypeRef(
                    code=t["code"],
                    profiles=tuple(t.get("profile", ())),
                    target_profiles=tuple(t.get("targetProfile", ())),
                )
                for t in el["type"]
            )
            rule.type_restricted = not base_mode
        if el.get("contentReference"):
            rule.content_reference = el["contentReference"]
        if el.get("slicing") and not base_mode:
            s = el["slicing"]
            rule.slicing = Slicing(
                discriminators=tuple(
                    Discriminator(d.get("type", "value"), d.get("path", "$this"))
                    for d in s.get("discriminator", [])
                ),
                rules=s.get("rules", "open"),
                ordered=bool(s.get("ordered", False)),
            )
        for c in el.get("constraint", []):
            key = c.get("key", "")
            expression = c.get("expression")
            if expression:  # the reference validators' corrections (core_corrections)
                expression = core_corrections.corrected(key, expression)
            if not expression:
                continue
            severity = c.get("severity", "error")
            if base_mode and severity != "error":
                continue
            predicate = compile_predicate(expression, self._compile)
            if predicate is None:
                warnings.append(f"{rule.id}: constraint {key} cannot be compiled: {expression}")
            if any(existing.key == key for existing in rule.constraints):
                continue
            rule.constraints.append(
                Invariant(
                    key=key,
                    severity=severity,
                    human=c.get("human", ""),
                    expression=expression,
                    predicate=predicate,
                    base_path=rule.choice_type or rule.path.replace("[x]", ""),
                )
            )

    # -- slices -------------------------------------------------------------

    def _finalize(self, rule: ElementRule, warnings: list[str], url: str) -> None:
        """Derive slice matchers, recursively, once the whole tree exists."""
        if rule.slices:
            if rule.slicing is None:
                if rule.name in ("extension", "modifierExtension"):
                    # Extensions are implicitly sliced by url (FHIR core rule).
                    rule.slicing = Slicing((Discriminator("value", "url"),), "open")
                else:
                    warnings.append(f"{rule.id}: slices without slicing; slices not checked")
            for s in rule.slices:
                if rule.slicing is not None:
                    s.matcher = self._matcher(s, rule.slicing, warnings)
                self._finalize(s, warnings, url)
        for child in rule.children.values():
            self._finalize(child, warnings, url)

    def _matcher(self, s: ElementRule, slicing: Slicing, warnings: list[str]) -> SliceMatcher:
        checks: list[tuple[Discriminator, str, Any]] = []
        usable = True
        for d in slicing.discriminators:
            if d.type in ("value", "pattern"):
                found = self.discriminator_value(s, d.path)
                if found is None:
                    warnings.append(f"{s.id}: no fixed/pattern/binding at discriminator {d.path}")
                    usable = False
                    continue
                checks.append((d, found[0], found[1]))
            elif d.type == "exists":
                target = self._rule_at(s, d.path)
                if target is not None and target.min:
                    checks.append((d, "exists", True))
                elif target is not None and target.max == 0:
                    checks.append((d, "exists", False))
                else:
                    usable = False
            elif d.type == "type":
                target = self._rule_at(s, d.path)
                if target is not None and target.types:
                    checks.append((d, "type", {t.code for t in target.types}))
                else:
                    usable = False
            elif d.type == "profile":
                target = self._rule_at(s, d.path)
                urls = tuple(p for t in (target.types if target else ()) for p in t.profiles)
                if urls:
                    checks.append((d, "profile", urls))
                else:
                    warnings.append(f"{s.id}: no type profile at discriminator {d.path}")
                    usable = False
            else:
                warnings.append(f"{s.id}: discriminator type {d.type} is not supported")
                usable = False
        return SliceMatcher(checks=checks, usable=usable and bool(checks))

    def _rule_at(self, rule: ElementRule, path: str) -> ElementRule | None:
        if path == "$this":
            return rule
        current: ElementRule | None = rule
        for seg in split_path(path):
            if current is None:
                return None
            current = current.children.get(seg)
        return current

    def discriminator_value(self, s: ElementRule, path: str) -> tuple[str, Any] | None:
        """(kind, expected) the slice fixes at a discriminator path, if any."""
        if path == "url":  # extension slices: the fixed url, else the type profile's url
            url = self._extension_url(s)
            return ("fixed", url) if url else None
        segments = [] if path == "$this" else split_path(path)
        current = s
        for i, seg in enumerate(segments):
            ext = _EXT_FN.match(seg)
            if ext:
                holder = current.children.get("extension")
                target = None
                for cand in holder.slices if holder else []:
                    if self._extension_url(cand) == ext.group("url"):
                        target = cand
                if target is None:
                    return None
                current = target
                continue
            nxt = current.children.get(seg)
            if nxt is None:
                if current.fixed is not None:
                    values = navigate_json(current.fixed, segments[i:])
                    if not values:
                        return None
                    return (
                        current.fixed_kind or "pattern",
                        values[0] if len(values) == 1 else values,
                    )
                if seg == "url":
                    nested_url = self._extension_url(current)
                    return ("fixed", nested_url) if nested_url else None
                return None
            current = nxt
        if current.fixed is not None:
            return current.fixed_kind or "pattern", current.fixed
        if current.binding is not None and current.binding.strength == "required":
            return "binding", current.binding.value_set
        return None

    @staticmethod
    def _extension_url(rule: ElementRule) -> str | None:
        url_rule = rule.children.get("url")
        if url_rule is not None and isinstance(url_rule.fixed, str):
            return url_rule.fixed
        for t in rule.types:
            if t.code == "Extension" and t.profiles:
                return t.profiles[0].split("|", 1)[0]
        return None


def navigate_json(value: Any, segments: list[str]) -> list[Any]:
    """Follow a dotted path through plain JSON, flattening arrays (FHIRPath-style)."""
    current = value if isinstance(value, list) else [value]
    for seg in segments:
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, dict) and seg in item:
                v = item[seg]
                nxt.extend(v if isinstance(v, list) else [v])
        current = nxt
    return current
