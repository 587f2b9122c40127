"""$validate-code — ValueSet/$validate-code and ValueSet/[id]/$validate-code.

https://hl7.org/fhir/R4/valueset-operation-validate-code.html, answered from
the local terminology (see ``operations.expand``).
"""

from __future__ import annotations

from typing import Any

from fhir_server import errors
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import instance_resource
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import (
    MSG_BAD_PARAMETER,
    QueryParams,
    body_resource,
    collect_parameters,
    query_params,
    single,
    value_set_argument,
)
from fhir_server.operations.registry import Operation
from fhir_server.terminology import TerminologyService

VALIDATE_CODE_PARAMS = (
    "url",
    "context",
    "valueSet",
    "valueSetVersion",
    "code",
    "system",
    "systemVersion",
    "display",
    "coding",
    "codeableConcept",
    "date",
    "abstract",
    "displayLanguage",
)


def validate_code_operation(
    terminology: TerminologyService,
    params: QueryParams | None = None,
    body: dict[str, Any] | None = None,
    *,
    value_set: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``ValueSet/$validate-code``: Parameters(result, message, display)."""
    op = "$validate-code"
    p = collect_parameters(params, body, VALIDATE_CODE_PARAMS, op)
    target = value_set_argument(p, value_set, op)
    coding = single(p, "coding", op)
    concept = single(p, "codeableConcept", op)
    if coding is not None and not isinstance(coding, dict):
        raise errors.InvalidRequest(
            "$validate-code: 'coding' must be a Coding (use a Parameters body)",
            msg_id=MSG_BAD_PARAMETER,
        )
    if concept is not None and not isinstance(concept, dict):
        raise errors.InvalidRequest(
            "$validate-code: 'codeableConcept' must be a CodeableConcept (use a Parameters body)",
            msg_id=MSG_BAD_PARAMETER,
        )
    code = single(p, "code", op)
    system = single(p, "system", op)
    display = single(p, "display", op)
    return terminology.validate_code(
        target,
        code=str(code) if code is not None else None,
        system=str(system) if system is not None else None,
        display=str(display) if display is not None else None,
        coding=coding,
        codeable_concept=concept,
    )


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    """The stored ValueSet at instance level (read as the caller may), ``url`` otherwise."""
    value_set = await instance_resource(ctx, req)
    terminology = ctx.services.profiles.terminology
    return Outcome(
        200,
        validate_code_operation(
            terminology, query_params(req), body_resource(req), value_set=value_set
        ),
    )


OPERATION = Operation(
    name="validate-code",
    handler=handle,
    types=frozenset({"ValueSet"}),
    type_level=True,
    instance=True,
    definition="http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code",
)
