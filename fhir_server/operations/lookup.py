"""$lookup — CodeSystem/$lookup.

https://hl7.org/fhir/R4/codesystem-operation-lookup.html, answered from the
local terminology (see ``operations.expand``).
"""

from __future__ import annotations

from typing import Any

from fhir_server import errors
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import (
    MSG_BAD_PARAMETER,
    QueryParams,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.terminology import TerminologyService

LOOKUP_PARAMS = ("code", "system", "version", "coding", "date", "displayLanguage", "property")


def lookup_operation(
    terminology: TerminologyService,
    params: QueryParams | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``CodeSystem/$lookup``: Parameters(name, version, display, designation, property)."""
    op = "$lookup"
    p = collect_parameters(params, body, LOOKUP_PARAMS, op)
    coding = single(p, "coding", op)
    code = single(p, "code", op)
    system = single(p, "system", op)
    if isinstance(coding, dict):
        code, system = coding.get("code"), coding.get("system")
    if not code or not system:
        raise errors.InvalidRequest(
            "$lookup needs 'system' and 'code' (or a 'coding')", msg_id=MSG_BAD_PARAMETER
        )
    props = [str(v) for v in p.get("property", [])]
    return terminology.lookup(str(system), str(code), properties=props or None)


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    terminology = ctx.services.profiles.terminology
    return Outcome(200, lookup_operation(terminology, query_params(req), body_resource(req)))


OPERATION = Operation(
    name="lookup",
    handler=handle,
    types=frozenset({"CodeSystem"}),
    type_level=True,
    instance=False,
    definition="http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
)
