"""Finding the records that may be the searched child, through the search indexes only.

Identity search must stay fast at 100,000 records, so candidates come from a
few bounded, index-backed searches, never from a scan: the birth date (and
the date with day and month swapped, a frequent typing error), the birth
family name as a prefix of its first word (with its compound spellings), and
— only when neither a date nor a family name is known — the first birth given
name. Every candidate is then graded in Python (``matching``). Placeholders
are never searched for: "À DEMANDER" or 01/01/1900 would find every
provisional record and prove nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.resources.identity import names
from fhir_server.resources.identity.matching import Match, Query, _known, _swapped, grade, ranked
from fhir_server.resources.identity.traits import Placeholders, identity_of
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import parse_search
from fhir_server.settings import SearchSettings
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

PER_QUERY = 200  # candidates read per index lookup
MIN_WILDCARD_PREFIX = 3  # letters before a '%' for a name to be looked up by itself
_JOINERS = (" ", "-", "'", "\u2019", "")


def lookups(query: Query, placeholders: Placeholders) -> list[list[tuple[str, str]]]:
    """The index lookups for ``query``: each a search on one indexed parameter."""
    out: list[list[tuple[str, str]]] = []
    birth_date = _known(placeholders, "birth-date", query.birth_date)
    if birth_date is not None:
        out.append([("birthdate", birth_date)])
        swapped = _swapped(birth_date)
        if swapped is not None:
            out.append([("birthdate", swapped)])
    family = _known(placeholders, "birth-family-name", query.family)
    family_prefix = _name_prefix(family)
    # A wildcard name asks the index for a short prefix, thousands of records at 100,000:
    # with a birth date known, the date lookups already hold every candidate it could add.
    wide = family is not None and "%" in family and birth_date is not None
    if family_prefix and not wide:
        out.append([("birth-family-name", family_prefix)])
    if not out:
        given_prefix = _name_prefix(_known(placeholders, "first-birth-given-name", query.given))
        if given_prefix:
            out.append([("birth-given-name", given_prefix)])
    return out


def _name_prefix(name: str | None) -> str:
    """What a name search can ask the index: its spellings as a prefix, wildcards cut off."""
    if not name:
        return ""
    fixed = name.split("%")[0]
    words = names.words(fixed)
    if not words:
        return ""
    if "%" in name:
        return words[0] if len(words[0]) >= MIN_WILDCARD_PREFIX else ""
    if len(words) == 1:
        return words[0]
    return ",".join(dict.fromkeys(j.join(words) for j in _JOINERS))


async def find_candidates(
    repository: Repository,
    registry: SearchParameterRegistry,
    settings: SearchSettings,
    query: Query,
    placeholders: Placeholders,
    scope: ReadScope,
) -> list[tuple[StoredResource, Match]]:
    """Graded candidates for ``query``, best first (``scope`` decides what is read)."""
    seen: dict[str, StoredResource] = {}
    for items in lookups(query, placeholders):
        clauses = parse_search(registry, "Patient", items, settings=settings, strict=True).clauses
        for stored in await repository.find("Patient", clauses, PER_QUERY, scope, base_url=""):
            if stored.resource is not None and not stored.deleted:
                seen.setdefault(stored.id, stored)
    graded: list[tuple[str, Match]] = []
    for id_, stored in seen.items():
        assert stored.resource is not None
        found = grade(query, identity_of(stored.resource), placeholders)
        if found is not None:
            graded.append((id_, found))
    return [(seen[id_], match) for id_, match in ranked(graded)]


def certain_matches(
    found: Sequence[tuple[StoredResource, Match]], exclude: str | None = None
) -> list[StoredResource]:
    return [s for s, m in found if m.grade == "certain" and s.id != exclude]
