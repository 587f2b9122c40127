"""The answer of an identity search: graded candidates, masked where the caller may not look.

Shared by ``$identity-search`` and ``$match``. Candidates are found over every
record (``resources.identity.candidates``), because a record the caller is
not habilitated on must still show — the booklet: "l'écran de recherche
m'indique que le patient existe déjà et me propose d'accéder à son dossier en
mode bris de glace" — or a duplicate gets created. Such a record shows with
the minimum needed to ask for break-glass access and nothing more: its
reference, a masked name (initials), the birth year, the grade and the score
(decision 0022). The per-trait explanation and the record itself are given
only for records the caller may open. Which those are is asked of storage
with the caller's own restriction, so it is the same rule as a read.
"""

from __future__ import annotations

from typing import Any

from fhir_server.interactions.context import Context
from fhir_server.resources.identity import names
from fhir_server.resources.identity.candidates import find_candidates
from fhir_server.resources.identity.matching import Match, Query
from fhir_server.resources.identity.traits import Placeholders, identity_of
from fhir_server.search.request import parse_search
from fhir_server.storage.repository import StoredResource

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
EXPLANATION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-match-explanation"
MASKED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "MASKED",
    "display": "masked",
}
DEFAULT_COUNT = 10


async def identity_bundle(
    ctx: Context,
    query: Query,
    placeholders: Placeholders,
    *,
    count: int | None,
    only_certain: bool = False,
) -> dict[str, Any]:
    """A searchset Bundle of the candidates for ``query``, best first."""
    services = ctx.services
    found = await find_candidates(
        services.repository,
        services.search_params,
        services.settings.search,
        query,
        placeholders,
        ctx.scope.unrestricted(),
    )
    if only_certain:
        found = [(s, m) for s, m in found if m.grade == "certain"]
    found = found[: DEFAULT_COUNT if count is None else count]
    visible = await _visible(ctx, [s.id for s, _ in found])
    entries = [_entry(ctx, stored, match, stored.id in visible) for stored, match in found]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
    }
    if entries:
        bundle["entry"] = entries
    return bundle


async def _visible(ctx: Context, ids: list[str]) -> set[str]:
    """Which of ``ids`` the caller may open (its own restriction, applied by storage)."""
    if not ids:
        return set()
    if ctx.scope.restriction is None:
        return set(ids)
    services = ctx.services
    clauses = parse_search(
        services.search_params,
        "Patient",
        [("_id", ",".join(ids))],
        settings=services.settings.search,
        strict=True,
    ).clauses
    found = await services.repository.find(
        "Patient", clauses, len(ids), ctx.scope, base_url=ctx.base_url
    )
    return {s.id for s in found}


def masked_patient(stored: StoredResource) -> dict[str, Any]:
    """What a caller who may not open the record learns: enough to ask for break-glass."""
    identity = identity_of(stored.resource or {})
    name: dict[str, Any] = {"use": "official", "family": names.masked(identity.family or "")}
    name["given"] = [names.masked(identity.given or "")]
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": stored.id,
        "meta": {"security": [MASKED]},
        "name": [name],
    }
    if identity.birth_date and len(identity.birth_date) >= 4:
        out["birthDate"] = identity.birth_date[:4]
    return out


def _entry(ctx: Context, stored: StoredResource, match: Match, visible: bool) -> dict[str, Any]:
    search: dict[str, Any] = {
        "extension": [{"url": MATCH_GRADE, "valueCode": match.grade}],
        "mode": "match",
        "score": match.score,
    }
    if visible:
        search["extension"].append(
            {
                "url": EXPLANATION,
                "extension": [
                    {"url": trait, "valueCode": result} for trait, result in match.traits
                ],
            }
        )
    return {
        "fullUrl": f"{ctx.base_url}/Patient/{stored.id}",
        "resource": stored.resource if visible else masked_patient(stored),
        "search": search,
    }
