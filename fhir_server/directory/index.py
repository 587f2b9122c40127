"""Searching a directory extraction: PractitionerRoles with their Practitioner and unit.

Both directories hand a set of FHIR resources (the local data file, or the
pages the ROR answered) to ``DirectoryIndex``, which folds every searchable
text once (``text.fold``) and answers ``DirectoryQuery``: people
(PractitionerRole matches, their Practitioner and Organization included) by
family name, given name, city, structure and profession; or units
(Organization matches: the booklet's "cocher unités, décocher
établissement", so an establishment that has units is not offered itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhir_server.directory.model import DirectoryQuery, DirectoryResult, Resource
from fhir_server.directory.text import fold, pattern, words


def _local(ref: Any) -> str:
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str):
        return ""
    parts = text.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else text


def _cities(resource: Resource | None) -> list[str]:
    return [
        fold(str(a["city"]))
        for a in (resource or {}).get("address") or []
        if isinstance(a, dict) and a.get("city")
    ]


def _codes(role: Resource) -> set[str]:
    out: set[str] = set()
    for concept in role.get("code") or []:
        for c in (concept or {}).get("coding") or []:
            if isinstance(c, dict) and c.get("code"):
                out.add(str(c["code"]))
                out.add(f"{c.get('system') or ''}|{c['code']}")
    return out


@dataclass
class _Person:
    role: Resource
    practitioner: Resource | None
    organization: Resource | None
    family: list[str]
    given: list[str]
    cities: list[str]
    structures: list[str]
    codes: set[str]


@dataclass
class _Unit:
    organization: Resource
    parent: Resource | None
    names: list[str]
    cities: list[str]


class DirectoryIndex:
    def __init__(self, resources: Iterable[Resource]) -> None:
        self.by_ref: dict[str, Resource] = {}
        for r in resources:
            if isinstance(r, dict) and r.get("resourceType") and r.get("id"):
                self.by_ref[f"{r['resourceType']}/{r['id']}"] = r
        parents = {
            _local(r.get("partOf"))
            for r in self.by_ref.values()
            if r["resourceType"] == "Organization" and r.get("partOf")
        }
        self.people: list[_Person] = []
        self.units: list[_Unit] = []
        for ref, r in self.by_ref.items():
            if r["resourceType"] == "PractitionerRole" and r.get("active", True):
                self.people.append(self._person(r))
            elif r["resourceType"] == "Organization" and ref not in parents:
                parent = self.by_ref.get(_local(r.get("partOf")))
                names = words(str(r.get("name") or ""))
                if parent:
                    names += words(str(parent.get("name") or ""))
                self.units.append(_Unit(r, parent, names, _cities(r)))

    def _person(self, role: Resource) -> _Person:
        practitioner = self.by_ref.get(_local(role.get("practitioner")))
        org = self.by_ref.get(_local(role.get("organization")))
        parent = self.by_ref.get(_local((org or {}).get("partOf")))
        family: list[str] = []
        given: list[str] = []
        for name in (practitioner or {}).get("name") or []:
            if isinstance(name, dict):
                family += words(str(name.get("family") or ""))
                given += [fold(str(g)) for g in name.get("given") or []]
        structures: list[str] = []
        for o in (org, parent):
            if o:
                structures += words(str(o.get("name") or ""))
        return _Person(
            role,
            practitioner,
            org,
            family,
            given,
            _cities(org) + _cities(practitioner),
            structures,
            _codes(role),
        )

    def search(self, query: DirectoryQuery) -> DirectoryResult:
        def test(value: str | None) -> re.Pattern[str] | None:
            return pattern(value) if value else None

        family, given = test(query.family), test(query.given)
        city, structure = test(query.city), test(query.organization)
        result = DirectoryResult()
        if query.kind == "unit":
            units = [u for u in self.units if _ok(structure, u.names) and _ok(city, u.cities)]
            units.sort(key=lambda u: fold(str(u.organization.get("name") or "")))
            result.total = len(units)
            for u in units[: query.count]:
                result.matches.append(u.organization)
                if u.parent:
                    _add(result.included, u.parent)
            return result
        people = [
            p
            for p in self.people
            if _ok(family, p.family)
            and _ok(given, p.given)
            and _ok(city, p.cities)
            and _ok(structure, p.structures)
            and (not query.profession or query.profession in p.codes)
        ]
        people.sort(key=lambda p: (p.family[:1], p.given[:1], str(p.role.get("id"))))
        result.total = len(people)
        for p in people[: query.count]:
            result.matches.append(p.role)
            for linked in (p.practitioner, p.organization):
                if linked:
                    _add(result.included, linked)
        return result

    def entry(self, type_: str, id_: str) -> DirectoryResult | None:
        found = self.by_ref.get(f"{type_}/{id_}")
        if found is None or type_ not in ("PractitionerRole", "Organization"):
            return None
        result = DirectoryResult([found], total=1)
        links = ("practitioner", "organization") if type_ == "PractitionerRole" else ("partOf",)
        for link in links:
            linked = self.by_ref.get(_local(found.get(link)))
            if linked:
                result.included.append(linked)
        return result


def _ok(compiled: re.Pattern[str] | None, texts: list[str]) -> bool:
    return compiled is None or any(compiled.match(t) for t in texts)


def _add(out: list[Resource], resource: Resource) -> None:
    if not any(r is resource for r in out):
        out.append(resource)
