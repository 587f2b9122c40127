"""$close — POST CarePlan/[id]/$close: close an MRTC pathway ("Clôturer le parcours").

ig/OperationDefinition-CarePlan-close.json. "L'étape finale est de transmettre
le BILAN au médecin traitant de l'enfant et autres PS", then "Clôturer le
parcours": allowed once the final report ("Fin MRTC", Transmettre CR/Bilan)
has been filed and sent to the child's doctor (the care-circle member with
role ``primary-care-physician``) and to the other professionals, one
Communication each (``$complete-step`` sends them); by a coordinator or the
record's structure account (the policy's question ``may_close_pathway``).
In one transaction the steps still open are cancelled and the CarePlan
becomes ``completed`` with its end date.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BusinessRuleViolation, Forbidden
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import in_transaction, save
from fhir_server.operations.parameters import body_resource, collect_parameters, query_params
from fhir_server.operations.pathway_context import engine, principal_of
from fhir_server.operations.registry import Operation
from fhir_server.pathway.lifecycle import business_status
from fhir_server.pathway.progress import OPEN
from fhir_server.pathway.records import section_of, step_code
from fhir_server.security import questions
from fhir_server.security.care_policy import CarePolicy
from fhir_server.storage.repository import instant, now

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/CarePlan-close"
OP = "$close"
MSG_CALLER = "MRTC-PTH-030"
MSG_STATE = "MRTC-PTH-031"
MSG_NO_FINAL_REPORT = "MRTC-PTH-032"
MSG_NO_DOCTOR = "MRTC-PTH-033"
MSG_NOT_SENT = "MRTC-PTH-034"
FINAL_SECTION = "mrtc-end"
REPORT_STEP = "transmit-report"
DOCTOR_ROLE = "primary-care-physician"


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in resource.items() if k != "meta"}
    body["meta"] = {"profile": (resource.get("meta") or {}).get("profile") or []}
    return body


async def check_may_close(ctx: Context, careplan: dict[str, Any]) -> None:
    principal = principal_of(ctx)
    policy = ctx.services.policy
    if principal is None or principal.is_system or not isinstance(policy, CarePolicy):
        return
    view = await policy.visibility(principal, ctx.scope)
    if not questions.may_close_pathway(principal, questions.record_structures(view, careplan)):
        raise Forbidden(
            "Only a coordinator or a structure account of the record's structure may close, "
            "pause or resume a pathway",
            msg_id=MSG_CALLER,
        )


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.id is not None
    plan_id: str = req.id
    collect_parameters(query_params(req), body_resource(req), (), OP)
    current = await load_current(ctx, "CarePlan", req.id)
    careplan = current.resource or {}
    await check_may_close(ctx, careplan)
    records = engine(ctx).records
    table = engine(ctx).table

    async def run(tx: Context) -> Outcome:
        careplan = (await load_current(tx, "CarePlan", plan_id)).resource or {}
        if careplan.get("status") not in ("active", "on-hold"):
            raise BusinessRuleViolation(
                f"CarePlan/{plan_id} is {careplan.get('status')}: only an active or paused "
                "pathway can be closed",
                msg_id=MSG_STATE,
            )
        patient_id = ((careplan.get("subject") or {}).get("reference") or "").partition("/")[2]
        all_steps = await records.steps(plan_id, tx.scope)
        finals = [
            s.resource or {}
            for s in all_steps
            if section_of(s.resource or {}) == FINAL_SECTION
            and step_code(s.resource or {}) == REPORT_STEP
            and business_status(s.resource or {}) == "validated"
        ]
        documents = {
            str(((o.get("valueReference") or {}).get("reference")) or "")
            for t in finals
            for o in t.get("output") or []
        } - {""}
        if not documents:
            raise BusinessRuleViolation(
                f"CarePlan/{plan_id}: the final report (Fin MRTC, Transmettre CR/Bilan) has not "
                "been transmitted yet",
                msg_id=MSG_NO_FINAL_REPORT,
            )
        circle = await records.care_circle(patient_id, tx.scope)
        doctors = circle.with_role(DOCTOR_ROLE) if circle else []
        if not doctors:
            raise BusinessRuleViolation(
                f"Patient/{patient_id}'s care circle has no child's doctor "
                f"(role {DOCTOR_ROLE}) to send the final report to",
                msg_id=MSG_NO_DOCTOR,
            )
        sent: set[str] = set()
        for stored in await records.find(
            "Communication", [("subject", f"Patient/{patient_id}")], tx.scope
        ):
            note = stored.resource or {}
            carried = {
                str(((p.get("contentReference") or {}).get("reference")) or "")
                for p in note.get("payload") or []
            }
            if carried & documents:
                sent |= {str((r or {}).get("reference")) for r in note.get("recipient") or []}
        missing = [m.reference for m in doctors if m.reference not in sent]
        if missing:
            raise BusinessRuleViolation(
                f"The final report has not been sent to the child's doctor ({', '.join(missing)})",
                msg_id=MSG_NOT_SENT,
            )
        for stored in all_steps:
            task = stored.resource or {}
            if business_status(task) not in OPEN:
                continue
            body = without_meta(task)
            body["status"] = table.rules["cancelled"].task_status
            body["businessStatus"] = {"coding": [table.coding("cancelled")]}
            await save(tx, "Task", stored.id, body, previous=stored)
        fresh = await tx.services.repository.read("CarePlan", plan_id, tx.scope)
        assert fresh is not None and fresh.resource is not None
        body = without_meta(fresh.resource)
        body["status"] = "completed"
        body["period"] = {**(body.get("period") or {}), "end": instant(now())[:10]}
        stored_plan = await save(tx, "CarePlan", plan_id, body, previous=fresh)
        return Outcome(200, stored_plan.resource, stored_plan)

    return await in_transaction(ctx, run)


OPERATION = Operation(
    name="close",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"CarePlan"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
