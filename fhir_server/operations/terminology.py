"""Local terminology: ValueSet/$expand, ValueSet/$validate-code, CodeSystem/$lookup.

https://hl7.org/fhir/R4/terminology-service.html. Answered from the IG's
CodeSystems and ValueSets and the core ones the server ships; no external
terminology server is consulted. At instance level the stored ValueSet is
the one expanded or checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import read
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.params import body_resource, query_params
from fhir_server.operations.registry import Operation, OperationHandler
from fhir_server.profiles.operations_impl import (
    expand_operation,
    lookup_operation,
    validate_code_operation,
)


async def _instance(ctx: Context, req: FhirRequest) -> dict | None:  # type: ignore[type-arg]
    if req.id is None or req.type is None:
        return None
    return (await read(ctx, req.type, req.id)).body


def _on_value_set(impl: Callable[..., dict[str, Any]]) -> OperationHandler:
    """A ValueSet operation: the stored ValueSet at instance level, ``url`` otherwise."""

    async def handler(ctx: Context, req: FhirRequest) -> Outcome:
        terminology = ctx.services.profiles.terminology
        value_set = await _instance(ctx, req)
        result = impl(terminology, query_params(req), body_resource(req), value_set=value_set)
        return Outcome(200, result)

    return handler


expand = _on_value_set(expand_operation)
validate_code = _on_value_set(validate_code_operation)


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
