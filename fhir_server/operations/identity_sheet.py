"""$identity-sheet — GET Patient/[id]/$identity-sheet (this server's operation).

ig/OperationDefinition-Patient-identity-sheet.json; the booklet: « La fiche
d'identité du patient pourra être exportée en PDF ». Returns a Binary
(``contentType`` application/pdf, the PDF in ``data``) rendered by
``resources.identity.sheet``: traits, status and attributes, identifiers,
contact details, export date and author. Only for who may open the record
(404 otherwise, like a read); the export is audited like every operation on
a record (an AuditEvent naming the patient and the caller).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import body_resource, collect_parameters, query_params
from fhir_server.operations.registry import Operation
from fhir_server.resources.identity.sheet import identity_sheet
from fhir_server.security.principal import Principal

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Patient-identity-sheet"
OP = "$identity-sheet"


def author(principal: object | None) -> str:
    if isinstance(principal, Principal):
        return principal.name or principal.fhir_user or principal.subject or "système"
    return "système"


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "Patient" and req.id is not None
    collect_parameters(query_params(req), body_resource(req), (), OP)
    stored = await load_current(ctx, "Patient", req.id)  # 404 unless the caller may open it
    pdf = identity_sheet(stored.resource or {}, author(ctx.principal), datetime.now(UTC))
    binary = {
        "resourceType": "Binary",
        "contentType": "application/pdf",
        "securityContext": {"reference": f"Patient/{req.id}"},
        "data": base64.b64encode(pdf).decode("ascii"),
    }
    return Outcome(200, binary)


OPERATION = Operation(
    name="identity-sheet",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    instance=True,
)
