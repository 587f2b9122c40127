"""$validate — [type]/$validate and [type]/[id]/$validate.

https://hl7.org/fhir/R4/resource-operation-validate.html. Checks a resource
(the body, or the ``resource`` parameter of a Parameters body) against the
base structure, the profiles it claims, the profiles the deployment enforces
and an optional ``profile`` parameter, and answers an OperationOutcome with
HTTP 200 — nothing is stored. At instance level without a body, the stored
current version is validated.
"""

from __future__ import annotations

from fhir_server.errors import FhirError, Issue
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import read
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.params import body_resource, query_params
from fhir_server.operations.registry import Operation
from fhir_server.profiles.operations_impl import validate_operation
from fhir_server.resources.validation import check_structure

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


def _structural(type_: str, max_depth: int):  # type: ignore[no-untyped-def]
    def check(resource: dict) -> list[Issue]:  # type: ignore[type-arg]
        try:
            check_structure(type_, resource, max_depth=max_depth)
        except FhirError as exc:
            return exc.outcome_issues()
        return []

    return check


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type is not None
    profiles = ctx.services.profiles
    body = body_resource(req)
    if body is None and req.id is not None:
        body = (await read(ctx, req.type, req.id)).body
    enforced = profiles.policy.profiles_for(body) if isinstance(body, dict) else []
    outcome = validate_operation(
        profiles.validator,
        req.type,
        body,
        query=query_params(req),
        resource_id=req.id,
        enforced=enforced,
        structural=_structural(req.type, ctx.settings.max_depth),
    )
    return Outcome(200, outcome)


OPERATION = Operation(
    name="validate", handler=handle, definition=DEFINITION, type_level=True, instance=True
)
