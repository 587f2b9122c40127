"""$apply — POST PlanDefinition/[id]/$apply and PlanDefinition/$apply: attach the MRTC pathway.

ig/OperationDefinition-PlanDefinition-apply.json, derived from the standard
https://hl7.org/fhir/R4/plandefinition-operation-apply.html. The booklet's
"Rattachement du parcours MRTC": the child, the start date ("Date de départ",
today by default), the working days (Monday to Friday by default; French
public holidays skipped, Alsace-Moselle's when the structure is there), and
"Affecter le parcours à tous les intervenants du cercle de soins" (default
true). Refused without an active consent (422), on a child already in an open
MRTC pathway (422), or for a caller who is neither a coordinator nor a
structure account (403).

In one transaction, through the write pipeline as the caller: the CarePlan
and one Task per fixed step ("étapes figées"), each dated from the
PlanDefinition's timing and moved forward onto the next working day, owned by
the care-circle member whose role matches the section's profession, with
every member as a recipient when assigning the care team. ``persist=false``
returns the CarePlan with its Tasks contained, and stores nothing (the
standard ``$apply``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from fhir_server.errors import BusinessRuleViolation, Forbidden, InvalidRequest
from fhir_server.interactions import references
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import (
    condition_key,
    in_transaction,
    new_id,
    save,
)
from fhir_server.operations.parameters import (
    as_bool,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.pathway_context import engine, principal_of
from fhir_server.operations.registry import Operation
from fhir_server.pathway import steps
from fhir_server.pathway.calendar import DEFAULT_DAYS, WEEKDAYS, WorkingCalendar, subdivision_of
from fhir_server.pathway.plan import PLAN_URL
from fhir_server.security import questions
from fhir_server.security.principal import display_name
from fhir_server.storage.repository import instant, now

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/PlanDefinition-apply"
OP = "$apply"
PARAMS = (
    "planDefinition",
    "subject",
    "organization",
    "practitioner",
    "startDate",
    "workingDay",
    "assignCareTeam",
    "persist",
)
MSG_BAD_INPUT = "MRTC-PTH-010"
MSG_CALLER = "MRTC-PTH-011"
MSG_NO_CONSENT = "MRTC-PTH-012"
MSG_ALREADY = "MRTC-PTH-013"
MSG_OTHER_PLAN = "MRTC-PTH-014"


def _reference(value: Any, type_: str, name: str) -> str | None:
    if value is None:
        return None
    text = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.startswith(f"{type_}/") or len(text) <= len(type_) + 1:
        raise InvalidRequest(
            f"{OP}: '{name}' must be a reference {type_}/[id], got {value!r}", msg_id=MSG_BAD_INPUT
        )
    return text.partition("/")[2]


def _start_date(value: Any) -> date:
    if value is None:
        return date.fromisoformat(instant(now())[:10])
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidRequest(
            f"{OP}: 'startDate' must be a date YYYY-MM-DD, got {value!r}", msg_id=MSG_BAD_INPUT
        ) from None


def _days(values: list[Any]) -> tuple[str, ...]:
    days = tuple(dict.fromkeys(str(v) for v in values))
    wrong = [d for d in days if d not in WEEKDAYS]
    if wrong:
        raise InvalidRequest(
            f"{OP}: 'workingDay' takes {', '.join(WEEKDAYS)}; got {', '.join(wrong)}",
            msg_id=MSG_BAD_INPUT,
        )
    return days or DEFAULT_DAYS


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    principal = principal_of(ctx)
    params = collect_parameters(query_params(req), body_resource(req), PARAMS, OP)
    if req.id is not None and req.id != "mrtc-pathway":
        raise BusinessRuleViolation(
            f"{OP} attaches the MRTC pathway (PlanDefinition/mrtc-pathway) only",
            msg_id=MSG_OTHER_PLAN,
        )
    given_plan = single(params, "planDefinition", OP)
    if isinstance(given_plan, dict) and given_plan.get("url") not in (None, PLAN_URL):
        raise BusinessRuleViolation(
            f"{OP} attaches the MRTC pathway ({PLAN_URL}) only", msg_id=MSG_OTHER_PLAN
        )
    patient_id = _reference(single(params, "subject", OP), "Patient", "subject")
    if patient_id is None:
        raise InvalidRequest(f"{OP} needs 'subject' (Patient/[id])", msg_id=MSG_BAD_INPUT)
    org_id = _reference(single(params, "organization", OP), "Organization", "organization")
    practitioner_id = _reference(single(params, "practitioner", OP), "Practitioner", "practitioner")
    start = _start_date(single(params, "startDate", OP))
    days = _days(params.get("workingDay", []))
    assign_all = single(params, "assignCareTeam", OP)
    assign_all = True if assign_all is None else as_bool(assign_all, "assignCareTeam", OP)
    persist = single(params, "persist", OP)
    persist = True if persist is None else as_bool(persist, "persist", OP)
    if principal is not None and not questions.may_attach_pathway(principal):
        raise Forbidden(
            "Only a coordinator or a structure account may attach a pathway "
            "(« La connexion en mode structure est impérative »)",
            msg_id=MSG_CALLER,
        )
    if org_id is None and principal is not None and principal.organizations:
        org_id = principal.organizations[0]
    given_org = org_id
    patient = (await load_current(ctx, "Patient", patient_id)).resource or {}
    pathway = engine(ctx)
    records = pathway.records

    async def run(tx: Context) -> Outcome:
        tx = replace(tx, pending_references=[])
        if not await records.has_active_consent(patient_id, tx.scope):
            raise BusinessRuleViolation(
                f"Patient/{patient_id} has no active consent (Consent, profile mrtc-consent): "
                "collect it before attaching the pathway",
                msg_id=MSG_NO_CONSENT,
            )
        open_plans = await records.open_pathways(patient_id, tx.scope)
        if open_plans:
            raise BusinessRuleViolation(
                f"Patient/{patient_id} is already in an open MRTC pathway "
                f"(CarePlan/{open_plans[0].id}); close it before attaching another",
                msg_id=MSG_ALREADY,
            )
        circle = await records.care_circle(patient_id, tx.scope)
        org_id = given_org or (circle.structures[0] if circle and circle.structures else None)
        if org_id is None:
            raise InvalidRequest(
                f"{OP} needs 'organization': the structure that attaches the pathway "
                "(default: the caller's, then the care circle's managing organisation)",
                msg_id=MSG_BAD_INPUT,
            )
        org = await records.read("Organization", org_id, tx.scope)
        if org is None:
            raise InvalidRequest(f"{OP}: Organization/{org_id} was not found", msg_id=MSG_BAD_INPUT)
        calendar = WorkingCalendar(days, subdivision_of(org))
        recipients = circle.assignable() if (circle and assign_all) else []
        plan = pathway.plan
        plan_id = new_id()
        created = instant(now())
        name = display_name(patient)
        body = steps.careplan(
            plan,
            patient_id=patient_id,
            title=f"Parcours MRTC de {name}" if name else "Parcours MRTC",
            start=start,
            days=days,
            author=f"Organization/{org_id}",
            care_team=f"CareTeam/{circle.team_id}" if circle else None,
            created=created,
        )
        if practitioner_id:
            body["contributor"] = [{"reference": f"Practitioner/{practitioner_id}"}]
        tasks: list[tuple[str, dict[str, Any]]] = []
        for section in plan.sections:
            if not section.fixed:
                continue
            day = calendar.next_working_day(steps.default_date(plan, section, start))
            role = plan.care_circle_role(section)
            owners = circle.with_role(role) if (circle and role) else []
            for step in section.steps:
                task_id = new_id()
                tasks.append(
                    (
                        task_id,
                        steps.task(
                            pathway.table,
                            section,
                            step,
                            careplan_id=plan_id,
                            patient_id=patient_id,
                            scheduled=day,
                            owner=owners[0].reference if owners else None,
                            recipients=recipients,
                            requester=f"Organization/{org_id}",
                            authored=created,
                        ),
                    )
                )
        body["activity"] = [{"reference": {"reference": f"Task/{t}"}} for t, _ in tasks]
        if not persist:
            body["id"] = plan_id
            body["contained"] = [{**t, "id": tid} for tid, t in tasks]
            body["activity"] = [{"reference": {"reference": f"#{t}"}} for t, _ in tasks]
            return Outcome(200, body)
        stored_plan = await save(
            tx,
            "CarePlan",
            plan_id,
            body,
            previous=None,
            # Two attachments of one child at once each see no open pathway in their own
            # transaction; the unique condition key (kept until the CarePlan is next
            # written) makes the second conflict, retry, and then meet the first.
            condition_key=condition_key("CarePlan", f"mrtc-open-pathway=Patient/{patient_id}"),
        )
        for task_id, task in tasks:
            await save(tx, "Task", task_id, task, previous=None)
        await references.verify(tx, tx.pending_references or [])
        return Outcome(201, stored_plan.resource, stored_plan, location=True)

    return await in_transaction(ctx, run)


OPERATION = Operation(
    name="apply",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"PlanDefinition"}),
    type_level=True,
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
