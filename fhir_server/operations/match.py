"""$match — POST Patient/$match (FHIR R4 standard operation).

https://hl7.org/fhir/R4/patient-operation-match.html. The input ``resource``
is a Patient (any subset of its traits, e.g. an MRTC Patient about to be
created); ``onlyCertainMatches`` keeps the certain ones; ``count`` bounds the
list. Same engine and same masking as ``$identity-search``: the traits read
from the Patient are the five strict traits, the twin rank and the used name.
"""

from __future__ import annotations

from dataclasses import replace

from fhir_server.errors import InvalidRequest
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.identity_results import identity_bundle
from fhir_server.operations.parameters import (
    as_bool,
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.resources.identity.matching import Query
from fhir_server.resources.identity.traits import Placeholders, identity_of

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-match"
OP = "$match"


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    params = collect_parameters(
        query_params(req), body_resource(req), ("resource", "onlyCertainMatches", "count"), OP
    )
    patient = single(params, "resource", OP)
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise InvalidRequest(
            f"{OP} needs a Patient as its 'resource' parameter", msg_id="MRTC-IDN-064"
        )
    query = Query.from_identity(identity_of(patient))
    if query.family is None and query.given is None:  # a plain Patient: its first name
        first = next((n for n in patient.get("name") or [] if isinstance(n, dict)), {})
        given = first.get("given") or [None]
        query = replace(
            query,
            family=first.get("family") if isinstance(first.get("family"), str) else None,
            given=given[0] if isinstance(given[0], str) else None,
        )
    if not (query.family or query.given or query.birth_date):
        raise InvalidRequest(
            f"{OP}: the Patient needs at least a name or a birth date", msg_id="MRTC-IDN-060"
        )
    only_certain = as_bool(single(params, "onlyCertainMatches", OP), "onlyCertainMatches", OP)
    count = as_int(single(params, "count", OP), "count", OP)
    count = min(count, ctx.settings.max_count) if count is not None else None
    placeholders = Placeholders.from_ig(ctx.services.ig)
    bundle = await identity_bundle(ctx, query, placeholders, count=count, only_certain=only_certain)
    return Outcome(200, bundle)


OPERATION = Operation(
    name="match",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    type_level=True,
    methods=frozenset({"POST"}),
)
