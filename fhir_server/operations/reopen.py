"""$reopen — POST CarePlan/[id]/$reopen: reopen a closed pathway ("déclôturer un parcours").

ig/OperationDefinition-CarePlan-reopen.json. The booklet's "Zoom sur le rôle
Super utilisateur": only a super-user may reopen a closed pathway (the
policy's question ``may_reopen_pathway``; the policy refuses it again on
the write). The CarePlan goes back to ``active`` and loses its end date; the
steps cancelled at closure stay cancelled (new ones are triggered as usual).
"""

from __future__ import annotations

from fhir_server.errors import BusinessRuleViolation, Forbidden
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import in_transaction, save
from fhir_server.operations.close import without_meta
from fhir_server.operations.parameters import body_resource, collect_parameters, query_params
from fhir_server.operations.pathway_context import principal_of
from fhir_server.operations.registry import Operation
from fhir_server.security import questions

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/CarePlan-reopen"
OP = "$reopen"
MSG_CALLER = "MRTC-PTH-040"
MSG_STATE = "MRTC-PTH-041"


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.id is not None
    collect_parameters(query_params(req), body_resource(req), (), OP)
    principal = principal_of(ctx)
    if principal is not None and not questions.may_reopen_pathway(principal):
        raise Forbidden("Only a super-user may reopen a closed pathway", msg_id=MSG_CALLER)

    async def run(tx: Context) -> Outcome:
        current = await load_current(tx, "CarePlan", req.id or "")
        careplan = current.resource or {}
        if careplan.get("status") != "completed":
            raise BusinessRuleViolation(
                f"CarePlan/{req.id} is {careplan.get('status')}: only a closed pathway can be "
                "reopened",
                msg_id=MSG_STATE,
            )
        body = without_meta(careplan)
        body["status"] = "active"
        period = {k: v for k, v in (body.get("period") or {}).items() if k != "end"}
        body["period"] = period
        stored = await save(tx, "CarePlan", current.id, body, previous=current)
        return Outcome(200, stored.resource, stored)

    return await in_transaction(ctx, run)


OPERATION = Operation(
    name="reopen",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"CarePlan"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
