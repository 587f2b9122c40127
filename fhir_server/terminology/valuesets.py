"""Value-set expansion over local code systems (``ValueSet.compose`` semantics).

Spec: https://hl7.org/fhir/R4/valueset.html#compositions. An expansion is the
union of the ``include`` parts minus the union of the ``exclude`` parts; each
part is the intersection of its code-system selection (whole system, listed
concepts or filters) and the value sets it imports.

A part that selects a code system this server does not hold (LOINC, SNOMED CT,
UCUM, ...) by filter or wholesale cannot be enumerated. Rather than fail, the
expansion records that system as *open*: membership of its codes is then
"unknown" (``None``), which lets the profile validator skip a binding it cannot
decide instead of rejecting valid data, while ``$expand`` reports the
expansion as not computable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.terminology.codesystems import LocalCodeSystem


@dataclass(frozen=True)
class ExpansionEntry:
    """One ``ValueSet.expansion.contains`` item."""

    system: str
    code: str
    display: str | None = None
    version: str | None = None
    abstract: bool = False
    inactive: bool = False
    designations: tuple[dict[str, Any], ...] = ()

    def to_fhir(self, *, designations: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system}
        if self.version:
            out["version"] = self.version
        if self.abstract:
            out["abstract"] = True
        if self.inactive:
            out["inactive"] = True
        out["code"] = self.code
        if self.display:
            out["display"] = self.display
        if designations and self.designations:
            out["designation"] = list(self.designations)
        return out


@dataclass
class Expansion:
    """The computed content of one value set."""

    url: str
    entries: dict[tuple[str, str], ExpansionEntry] = field(default_factory=dict)
    open_systems: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    _codes: dict[str, list[ExpansionEntry]] | None = None

    @property
    def complete(self) -> bool:
        return not self.open_systems

    def contains(self, system: str | None, code: str) -> bool | None:
        """Whether (system, code) is in the value set; ``None`` when undecidable.

        Without a system (a bare ``code`` element) any system's code matches.
        """
        if system is None:
            if self._codes is None:
                self._codes = {}
                for entry in self.entries.values():
                    self._codes.setdefault(entry.code, []).append(entry)
            if code in self._codes:
                return True
            return None if self.open_systems else False
        if (system, code) in self.entries:
            return True
        return None if system in self.open_systems else False

    def lookup(self, system: str | None, code: str) -> ExpansionEntry | None:
        if system is not None:
            return self.entries.get((system, code))
        for entry in self.entries.values():
            if entry.code == code:
                return entry
        return None


CodeSystemResolver = Callable[[str], LocalCodeSystem | None]
ValueSetResolver = Callable[[str], Expansion]


def _entry(cs: LocalCodeSystem, code: str, display: str | None = None) -> ExpansionEntry:
    concept = cs.concepts[code]
    return ExpansionEntry(
        system=cs.url,
        code=code,
        display=display or concept.display,
        version=cs.version,
        abstract=concept.abstract,
        inactive=concept.inactive,
        designations=tuple(concept.designations),
    )


def _filter_codes(cs: LocalCodeSystem, flt: dict[str, Any], problems: list[str]) -> set[str]:
    """The codes of ``cs`` selected by one ``compose.include.filter``."""
    prop = flt.get("property", "concept")
    op = flt.get("op")
    value = str(flt.get("value", ""))
    if prop in ("concept", "code") and op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
        if value not in cs.concepts:
            problems.append(f"filter {prop} {op} {value}: code not in {cs.url}")
            return set() if op != "is-not-a" else set(cs.concepts)
        if op == "is-a":
            return cs.descendants(value) | {value}
        if op == "descendent-of":
            return cs.descendants(value)
        if op == "generalizes":
            return cs.ancestors(value) | {value}
        return set(cs.concepts) - cs.descendants(value) - {value}
    if op in ("in", "not-in") and prop in ("concept", "code"):
        wanted = {v.strip() for v in value.split(",")}
        return wanted & set(cs.concepts) if op == "in" else set(cs.concepts) - wanted
    if op == "regex":
        pattern = re.compile(value)
        if prop in ("concept", "code"):
            return {c for c in cs.concepts if pattern.fullmatch(c)}
        return {
            c.code
            for c in cs
            if any(isinstance(v, str) and pattern.fullmatch(v) for v in c.property_values(prop))
        }
    if op == "=":
        if prop == "display":
            return {c.code for c in cs if c.display == value}
        return {c.code for c in cs if any(_prop_str(v) == value for v in c.property_values(prop))}
    if op in ("in", "not-in"):
        wanted = {v.strip() for v in value.split(",")}
        hit = {c.code for c in cs if any(_prop_str(v) in wanted for v in c.property_values(prop))}
        return hit if op == "in" else set(cs.concepts) - hit
    if op == "exists":
        has = {c.code for c in cs if c.property_values(prop)}
        return has if value.lower() == "true" else set(cs.concepts) - has
    problems.append(f"filter op {op!r} on property {prop!r} is not supported")
    return set()


def _prop_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # valueCoding
        return str(value.get("code", ""))
    return str(value)


def _part(
    part: dict[str, Any],
    resolve_cs: CodeSystemResolver,
    resolve_vs: ValueSetResolver,
    out: Expansion,
) -> tuple[dict[tuple[str, str], ExpansionEntry], set[str]]:
    """The entries (and open systems) one include/exclude part selects."""
    selected: dict[tuple[str, str], ExpansionEntry] | None = None
    open_systems: set[str] = set()
    system = part.get("system")
    if system:
        cs = resolve_cs(system)
        selected = {}
        if part.get("concept"):
            for item in part["concept"]:
                code = item.get("code")
                if not isinstance(code, str):
                    continue
                if cs is not None and code in cs.concepts:
                    entry = _entry(cs, code, item.get("display"))
                elif cs is not None and cs.complete:
                    out.problems.append(f"code {code} is not defined in {system}")
                    continue
                else:
                    entry = ExpansionEntry(
                        system=system,
                        code=code,
                        display=item.get("display"),
                        version=part.get("version"),
                        designations=tuple(item.get("designation", [])),
                    )
                selected[(system, code)] = entry
        elif cs is None:
            open_systems.add(system)
        else:
            codes = set(cs.concepts)
            for flt in part.get("filter", []):
                codes &= _filter_codes(cs, flt, out.problems)
            # Keep the code system's own order for stable paging.
            selected = {(cs.url, c): _entry(cs, c) for c in cs.concepts if c in codes}
    for vs_url in part.get("valueSet", []):
        imported = resolve_vs(vs_url)
        out.problems.extend(imported.problems)
        if selected is None:
            selected = dict(imported.entries)
            open_systems |= imported.open_systems
        else:
            selected = {k: v for k, v in selected.items() if k in imported.entries}
    return selected or {}, open_systems


def expand_compose(
    value_set: dict[str, Any],
    resolve_cs: CodeSystemResolver,
    resolve_vs: ValueSetResolver,
) -> Expansion:
    """Compute the expansion of ``value_set`` (compose, else its stored expansion)."""
    out = Expansion(url=value_set.get("url", ""))
    compose = value_set.get("compose")
    if not compose:
        for item in _flatten_contains(value_set.get("expansion", {}).get("contains", [])):
            if "code" in item and "system" in item:
                out.entries[(item["system"], item["code"])] = ExpansionEntry(
                    system=item["system"],
                    code=item["code"],
                    display=item.get("display"),
                    version=item.get("version"),
                    abstract=bool(item.get("abstract")),
                    inactive=bool(item.get("inactive")),
                )
        return out
    for part in compose.get("include", []):
        entries, open_systems = _part(part, resolve_cs, resolve_vs, out)
        for key, entry in entries.items():
            out.entries.setdefault(key, entry)
        out.open_systems |= open_systems
    for part in compose.get("exclude", []):
        entries, _ = _part(part, resolve_cs, resolve_vs, out)
        for key in entries:
            out.entries.pop(key, None)
    if compose.get("inactive") is False:
        out.entries = {k: v for k, v in out.entries.items() if not v.inactive}
    return out


def _flatten_contains(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.append(item)
        out.extend(_flatten_contains(item.get("contains", [])))
    return out
