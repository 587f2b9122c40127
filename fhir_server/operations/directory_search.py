"""$directory-search — GET|POST [base]/$directory-search (this server's operation).

ig/OperationDefinition-directory-search.json; the booklet's "Cercle de soins -
Recherche annuaire ROR": search the directory (``FHIR_DIRECTORY``: the local
mock or the regional ROR) by family name, given name, city, structure and
profession, for people (``kind=person``, the default: PractitionerRole
matches with their Practitioner and Organization included) or units
(``kind=unit``: Organization matches; "cocher unités, décocher
établissement"). Case, accents and diaeresis are ignored and ``%`` stands for
letters (``directory.text``). The answer is a searchset Bundle whose
``fullUrl`` are the directory's own URLs: nothing is stored until a member is
added (``CareTeam/$add-member``). A failing or slow ROR is a 502 / 504.
"""

from __future__ import annotations

from typing import Any

from fhir_server.directory.model import Directory, DirectoryQuery, DirectoryResult
from fhir_server.errors import InvalidRequest
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import (
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/directory-search"
OP = "$directory-search"
TEXT_INPUTS = ("family", "given", "city", "organization", "profession")
PERSON_ONLY = ("family", "given", "profession")


def directory_of(ctx: Context) -> Directory:
    directory = ctx.services.directory
    if directory is None:  # wiring mistake, not a client error
        raise RuntimeError("Services.directory is not set (bootstrap builds it)")
    return directory


def read_query(ctx: Context, req: FhirRequest) -> DirectoryQuery:
    params = collect_parameters(
        query_params(req), body_resource(req), (*TEXT_INPUTS, "kind", "_count"), OP
    )
    values: dict[str, str | None] = {}
    limit = ctx.settings.search.max_value_length
    for name in TEXT_INPUTS:
        value = single(params, name, OP)
        if value is None:
            values[name] = None
            continue
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(
                f"{OP}: '{name}' must be a non-empty string", msg_id="MRTC-DIR-010"
            )
        if len(value) > limit:
            raise InvalidRequest(
                f"{OP}: '{name}' is longer than {limit} characters", msg_id="MRTC-DIR-010"
            )
        if value.count("%") > ctx.settings.search.max_wildcards:
            raise InvalidRequest(
                f"{OP}: '{name}' has more than {ctx.settings.search.max_wildcards} '%'",
                msg_id="MRTC-DIR-012",
            )
        values[name] = value.strip()
    kind = single(params, "kind", OP) or "person"
    if kind not in ("person", "unit"):
        raise InvalidRequest(f"{OP}: 'kind' is person or unit, not {kind!r}", msg_id="MRTC-DIR-011")
    if kind == "unit":
        given = [n for n in PERSON_ONLY if values[n]]
        if given:
            raise InvalidRequest(
                f"{OP}: {', '.join(given)} search people; a unit is found by "
                "'organization' and 'city'",
                msg_id="MRTC-DIR-011",
            )
    count = as_int(single(params, "_count", OP), "_count", OP)
    count = ctx.settings.default_count if count is None else min(count, ctx.settings.max_count)
    return DirectoryQuery(
        family=values["family"],
        given=values["given"],
        city=values["city"],
        organization=values["organization"],
        profession=values["profession"],
        kind="unit" if kind == "unit" else "person",
        count=count,
    )


def searchset(ctx: Context, base: str, result: DirectoryResult) -> dict[str, Any]:
    def entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": mode},
        }

    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": result.total,
        "link": [{"relation": "self", "url": f"{ctx.base_url}/$directory-search"}],
        "entry": [entry(r, "match") for r in result.matches]
        + [entry(r, "include") for r in result.included],
    }


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    query = read_query(ctx, req)
    directory = directory_of(ctx)
    result = await directory.search(query)
    return Outcome(200, searchset(ctx, directory.base_url, result))


OPERATION = Operation(
    name="directory-search",
    handler=handle,
    definition=DEFINITION,
    system=True,
)
