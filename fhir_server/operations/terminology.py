"""Local terminology: ValueSet/$expand, ValueSet/$validate-code, CodeSystem/$lookup.

https://hl7.org/fhir/R4/terminology-service.html. Answered from the IG's
CodeSystems and ValueSets and the core ones the server ships; no external
terminology server is consulted. At instance level the stored ValueSet is
the one expanded or checked.
"""

from __future__ import annotations

from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import read
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.params import body_resource, query_params
from fhir_server.operations.registry import Operation
from fhir_server.profiles.operations_impl import (
    expand_operation,
    lookup_operation,
    validate_code_operation,
)


async def _instance(ctx: Context, req: FhirRequest) -> dict | None:  # type: ignore[type-arg]
    if req.id is None or req.type is None:
        return None
    return (await read(ctx, req.type, req.id)).body


async def expand(ctx: Context, req: FhirRequest) -> Outcome:
    terminology = ctx.services.profiles.terminology
    result = expand_operation(
        terminology, query_params(req), body_resource(req), value_set=await _instance(ctx, req)
    )
    return Outcome(200, result)


async def validate_code(ctx: Context, req: FhirRequest) -> Outcome:
    terminology = ctx.services.profiles.terminology
    result = validate_code_operation(
        terminology, query_params(req), body_resource(req), value_set=await _instance(ctx, req)
    )
    return Outcome(200, result)


async def lookup(ctx: Context, req: FhirRequest) -> Outcome:
    terminology = ctx.services.profiles.terminology
    return Outcome(200, lookup_operation(terminology, query_params(req), body_resource(req)))


OPERATIONS = [
    Operation(
        name="expand",
        handler=expand,
        types=frozenset({"ValueSet"}),
        type_level=True,
        instance=True,
        definition="http://hl7.org/fhir/OperationDefinition/ValueSet-expand",
    ),
    Operation(
        name="validate-code",
        handler=validate_code,
        types=frozenset({"ValueSet"}),
        type_level=True,
        instance=True,
        definition="http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code",
    ),
    Operation(
        name="lookup",
        handler=lookup,
        types=frozenset({"CodeSystem"}),
        type_level=True,
        definition="http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
    ),
]
