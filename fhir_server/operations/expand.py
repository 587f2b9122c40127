"""$expand — ValueSet/$expand and ValueSet/[id]/$expand.

https://hl7.org/fhir/R4/valueset-operation-expand.html. Answered from the
IG's ValueSets and CodeSystems and the core ones the server ships; no
external terminology server is consulted.
"""

from __future__ import annotations

from typing import Any

from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import instance_resource
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import (
    QueryParams,
    as_bool,
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
    value_set_argument,
)
from fhir_server.operations.registry import Operation
from fhir_server.terminology import TerminologyService

EXPAND_PARAMS = (
    "url",
    "valueSet",
    "valueSetVersion",
    "filter",
    "count",
    "offset",
    "activeOnly",
    "includeDesignations",
    "displayLanguage",
    "context",
    "date",
    "excludeNested",
    "includeDefinition",
    "limitedExpansion",
)


def expand_operation(
    terminology: TerminologyService,
    params: QueryParams | None = None,
    body: dict[str, Any] | None = None,
    *,
    value_set: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``ValueSet/$expand`` (``value_set`` = the instance for ``ValueSet/[id]/$expand``)."""
    op = "$expand"
    p = collect_parameters(params, body, EXPAND_PARAMS, op)
    target = value_set_argument(p, value_set, op)
    text = single(p, "filter", op)
    return terminology.expand(
        target,
        text_filter=str(text) if text else None,
        count=as_int(single(p, "count", op), "count", op),
        offset=as_int(single(p, "offset", op), "offset", op) or 0,
        active_only=as_bool(single(p, "activeOnly", op), "activeOnly", op),
        include_designations=as_bool(
            single(p, "includeDesignations", op), "includeDesignations", op
        ),
    )


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    """The stored ValueSet at instance level (read as the caller may), ``url`` otherwise."""
    value_set = await instance_resource(ctx, req)
    terminology = ctx.services.profiles.terminology
    return Outcome(
        200,
        expand_operation(terminology, query_params(req), body_resource(req), value_set=value_set),
    )


OPERATION = Operation(
    name="expand",
    handler=handle,
    types=frozenset({"ValueSet"}),
    type_level=True,
    instance=True,
    definition="http://hl7.org/fhir/OperationDefinition/ValueSet-expand",
)
