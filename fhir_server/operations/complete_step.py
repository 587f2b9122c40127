"""$complete-step — POST Task/[id]/$complete-step: close a pathway step, trigger the next ones.

ig/OperationDefinition-Task-complete-step.json. The booklet's "Clôturer
l'étape" and "Transmettre CR/Bilan": the real appointment date
(``actualDate`` -> ``Task.executionPeriod.start``), the filled form
(``questionnaireResponse``) or the report, either already stored
(``document``) or given whole (``report``: a DocumentReference whose
attachment data the server files as a Binary, in the patient's record, linked
to the step). A task step goes "Traité" (processed) then, once its document is
attached, "validée" (validated); a form goes "Réalisé" (done); both are
``Task.status`` completed. The categories a report step accepts are the
PlanDefinition's (``action.output``); who may file which category is the
security matrix. The final report ("Fin MRTC") is sent to the child's doctor
and the other professionals of the care circle, one Communication each.

The answer is a Parameters: ``step`` (the updated Task), ``triggered`` (the
Tasks created from ``trigger``), ``candidate`` (the sections that may follow
and are not triggered yet: action, title, proposed date, proposed owner) and
``progress`` (per section, "RDV INITIAL MSP 2/2"). Everything is written in
one transaction, through the write pipeline, as the caller.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from datetime import date
from typing import Any

from fhir_server.errors import BusinessRuleViolation, Forbidden, InvalidRequest
from fhir_server.interactions import bundle, dispatch, references
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest, resolve
from fhir_server.interactions.write import in_transaction, new_id, prepare, save, store
from fhir_server.operations import sdc as qx
from fhir_server.operations.parameters import body_resource, collect_parameters, query_params
from fhir_server.operations.pathway_context import PathwayEngine, engine, principal_of
from fhir_server.operations.registry import Operation
from fhir_server.pathway import progress as flow
from fhir_server.pathway import steps
from fhir_server.pathway.hooks import careplan_id, pathway_calendar
from fhir_server.pathway.lifecycle import STATUS_SYSTEM, business_status
from fhir_server.pathway.plan import CATEGORY_SYSTEM, Section
from fhir_server.pathway.records import CareCircle, section_of, step_code
from fhir_server.profiles.structure import check_structure
from fhir_server.security.principal import COORDINATOR, Principal
from fhir_server.storage.repository import StoredResource, instant, now

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Task-complete-step"
OP = "$complete-step"
PARAMS = (
    "businessStatus",
    "actualDate",
    "questionnaireResponse",
    "document",
    "report",
    "trigger",
)
MSG_BAD_INPUT = "MRTC-PTH-020"
MSG_NOT_OWNER = "MRTC-PTH-021"
MSG_PATHWAY_STATE = "MRTC-PTH-022"
MSG_REPORT_NEEDED = "MRTC-PTH-023"
MSG_CATEGORY = "MRTC-PTH-024"
MSG_TRIGGER = "MRTC-PTH-025"
MSG_NOT_A_STEP = "MRTC-PTH-026"
MSG_FORM = "MRTC-PTH-027"
MSG_TRIGGER_OWNER = "MRTC-PTH-028"
FINAL_SECTION = "mrtc-end"
FORM = "biometric-form"
REPORT_STEP = "transmit-report"
DOCTOR_ROLE = "primary-care-physician"
PROFESSIONAL_ROLES = (
    "primary-care-physician",
    "mrtc-physician",
    "dietitian",
    "psychologist",
    "apa-educator",
    "nurse",
    "physiotherapist",
    "other-professional",
)


def _bad(text: str) -> InvalidRequest:
    return InvalidRequest(f"{OP}: {text}", msg_id=MSG_BAD_INPUT)


def _ref_id(value: Any, type_: str, name: str) -> str:
    text = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.startswith(f"{type_}/"):
        raise _bad(f"'{name}' must reference a {type_}, got {value!r}")
    return text.partition("/")[2].split("/_history/")[0]


def _triggers(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for param in (body or {}).get("parameter") or []:
        if not isinstance(param, dict) or param.get("name") != "trigger":
            continue
        parts: dict[str, Any] = {}
        given = param.get("part")
        for part in given if isinstance(given, list) else [None]:
            if not isinstance(part, dict):
                raise _bad("each 'trigger' has parts (name and value[x])")
            value = next((v for k, v in part.items() if k.startswith("value")), None)
            parts[str(part.get("name"))] = value
        unknown = set(parts) - {"action", "date", "owner"}
        if unknown or not isinstance(parts.get("action"), str):
            raise _bad(
                "each 'trigger' has parts 'action' (a PlanDefinition action id), "
                "optional 'date' and 'owner'"
            )
        out.append(parts)
    return out


def _may_complete(principal: Principal | None, task: dict[str, Any]) -> bool:
    if principal is None or principal.is_system or principal.is_structure:
        return True
    if principal.has_role(COORDINATOR):
        return True
    owner = ((task.get("owner") or {}).get("reference")) or ""
    return owner in principal.member_refs()


def _categories(document: dict[str, Any]) -> list[str]:
    return [
        str(c.get("code"))
        for concept in document.get("category") or []
        for c in (concept or {}).get("coding") or []
        if isinstance(c, dict) and c.get("system") == CATEGORY_SYSTEM
    ]


def _check_category(document: dict[str, Any], accepted: tuple[str, ...], where: str) -> None:
    if not accepted:
        return
    if not set(_categories(document)) & set(accepted):
        raise BusinessRuleViolation(
            f"{where}: this step files its report under "
            f"{', '.join(accepted)} (mrtc-document-category), not "
            f"{', '.join(_categories(document)) or 'no MRTC category'}",
            expression=("DocumentReference.category",),
            msg_id=MSG_CATEGORY,
        )


def _assignable(circle: CareCircle | None) -> list[str]:
    """Who a triggered step may be given to: the care circle's members who receive steps
    (« les membres du cercle de soins »), and its structures."""
    if circle is None:
        return []
    structures = [f"Organization/{s}" for s in circle.structures]
    return list(dict.fromkeys([*circle.assignable(), *structures]))


def _owner_for(engine_: PathwayEngine, section: Section, circle: CareCircle | None) -> str | None:
    role = engine_.plan.care_circle_role(section)
    members = circle.with_role(role) if (circle and role) else []
    return members[0].reference if members else None


def _date(value: Any, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _bad(f"'{name}' must be a date or dateTime, got {value!r}") from None


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.id is not None
    task_id: str = req.id
    principal = principal_of(ctx)
    body = body_resource(req)
    params = collect_parameters(query_params(req), body, PARAMS, OP)
    triggers = _triggers(body)
    current = await load_current(ctx, "Task", req.id)
    task = current.resource or {}
    if business_status(task) is None or careplan_id(task) is None:
        raise BusinessRuleViolation(
            f"Task/{req.id} is not a step of an MRTC pathway (no businessStatus from "
            f"{STATUS_SYSTEM} or no basedOn CarePlan)",
            msg_id=MSG_NOT_A_STEP,
        )
    if not _may_complete(principal, task):
        raise Forbidden(
            f"Only the step's owner, the coordinator or the structure may close Task/{req.id}",
            msg_id=MSG_NOT_OWNER,
        )
    pathway = engine(ctx)
    plan, table = pathway.plan, pathway.table
    section = plan.section(section_of(task))
    step = plan.step(section_of(task), step_code(task)) if section else None
    if section is None or step is None:
        raise BusinessRuleViolation(
            f"Task/{req.id}'s section and step are not in the PlanDefinition", msg_id=MSG_NOT_A_STEP
        )
    status_given = (params.get("businessStatus") or [None])[-1]
    actual = params.get("actualDate") or []
    if len(actual) > 1:
        raise _bad("'actualDate' may appear only once")
    actual_date = _date(actual[0] if actual else None, "actualDate")
    if actual_date is not None and actual_date.isoformat() > instant(now())[:10]:
        raise _bad(
            f"'actualDate' {actual_date.isoformat()} is in the future: it is the real date "
            "of the appointment"
        )
    qr_refs = params.get("questionnaireResponse") or []
    doc_refs = params.get("document") or []
    reports = params.get("report") or []
    if any(
        not isinstance(r, dict) or r.get("resourceType") != "DocumentReference" for r in reports
    ):
        raise _bad("'report' takes a DocumentReference resource")
    plan_id = careplan_id(task)
    assert plan_id is not None
    records = pathway.records

    async def run(tx: Context) -> Outcome:
        tx = replace(tx, pending_references=[])
        current_now = await load_current(tx, "Task", task_id)  # in the transaction: no lost update
        task_now = current_now.resource or {}
        careplan = await records.read("CarePlan", plan_id, tx.scope)
        if careplan is None or careplan.get("status") != "active":
            state = (careplan or {}).get("status", "deleted")
            raise BusinessRuleViolation(
                f"The pathway CarePlan/{plan_id} is {state}: its steps cannot be closed",
                msg_id=MSG_PATHWAY_STATE,
            )
        patient_id = (((task_now.get("for") or {}).get("reference")) or "").partition("/")[2]
        calendar = await pathway_calendar(records, careplan, tx.scope)
        circle = await records.care_circle(patient_id, tx.scope)
        updated = {k: v for k, v in task_now.items() if k != "meta"}
        updated["meta"] = {"profile": (task_now.get("meta") or {}).get("profile") or []}
        outputs = list(updated.get("output") or [])
        for ref in qr_refs:
            qr_id = _ref_id(ref, "QuestionnaireResponse", "questionnaireResponse")
            response = (await load_current(tx, "QuestionnaireResponse", qr_id)).resource or {}
            await _extract(tx, response, qr_id, patient_id)
            outputs.append(
                {
                    "type": steps.io_type("questionnaire-response"),
                    "valueReference": {"reference": f"QuestionnaireResponse/{qr_id}"},
                }
            )
        documents: list[str] = []
        for ref in doc_refs:
            doc_id = _ref_id(ref, "DocumentReference", "document")
            doc = (await load_current(tx, "DocumentReference", doc_id)).resource or {}
            _check_category(doc, step.report_categories, f"DocumentReference/{doc_id}")
            documents.append(doc_id)
        when = actual_date or date.fromisoformat(instant(now())[:10])
        for i, report in enumerate(reports):
            documents.append(
                await _file_report(
                    tx, report, step.report_categories, task_now, patient_id, when, i
                )
            )
        for doc_id in documents:
            outputs.append(
                {
                    "type": steps.io_type("document"),
                    "valueReference": {"reference": f"DocumentReference/{doc_id}"},
                }
            )
        if outputs:
            updated["output"] = outputs
        has_document = any(
            (o.get("type") or {}).get("coding", [{}])[0].get("code") == "document" for o in outputs
        )
        if isinstance(status_given, dict) and status_given.get("code"):
            if status_given.get("system") not in (None, STATUS_SYSTEM):
                raise _bad(f"'businessStatus' must be a code of {STATUS_SYSTEM}")
            target = str(status_given["code"])
            if target not in table.rules:
                raise _bad(f"'businessStatus' '{target}' is not in {STATUS_SYSTEM}")
        elif step.code == FORM:
            target = "done"
        else:
            target = "validated" if has_document else "processed"
        # the IG's invariant mrtc-task_now-5: a closed "Transmettre CR/Bilan" carries its report
        if step.code == REPORT_STEP and target in ("processed", "validated") and not has_document:
            raise BusinessRuleViolation(
                f"Task/{task_id} transmits a report: give it as 'report' (a DocumentReference "
                "with its attachment) or 'document' (a stored one) to close the step",
                msg_id=MSG_REPORT_NEEDED,
            )
        period = dict(updated.get("executionPeriod") or {})
        if actual_date is not None:
            period["start"] = actual_date.isoformat()
        period.setdefault("start", when.isoformat())
        period["end"] = instant(now())
        updated["executionPeriod"] = period
        updated["lastModified"] = instant(now())
        previous: StoredResource = current_now
        path = [target]
        if not (qr_refs or doc_refs or reports or status_given or actual) and (
            business_status(task_now) in flow.CLOSED
        ):
            path = []  # a closed step, called again only to trigger ("ou plus tard")
        if target == "validated" and business_status(task_now) not in ("processed", "validated"):
            path = ["processed", "validated"]  # "Traité", then "validée" once the document is in
        stored = current_now
        for code in path:
            version = {
                **updated,
                "status": table.rules[code].task_status,
                "businessStatus": {"coding": [table.coding(code)]},
            }
            fresh = await tx.services.repository.read("Task", task_id, tx.scope.unrestricted())
            previous = fresh if fresh is not None else previous
            stored = await save(tx, "Task", task_id, {**version, "id": task_id}, previous=previous)
        if section.code == FINAL_SECTION and documents and circle is not None:
            await _send_report(tx, circle, principal, patient_id, task_id, documents)
        all_steps = [s.resource or {} for s in await records.steps(plan_id, tx.scope)]
        triggered = await _trigger(
            tx,
            pathway,
            triggers,
            section,
            all_steps,
            careplan,
            plan_id,
            patient_id,
            calendar,
            circle,
            task_now,
            when,
        )
        if triggered:
            all_steps = [s.resource or {} for s in await records.steps(plan_id, tx.scope)]
        await references.verify(tx, tx.pending_references or [])
        out: list[dict[str, Any]] = [{"name": "step", "resource": stored.resource}]
        out += [{"name": "triggered", "resource": t.resource} for t in triggered]
        for candidate in flow.candidates(plan, section.code, all_steps, calendar, when):
            parts: list[dict[str, Any]] = [
                {"name": "action", "valueString": candidate.section.action_id},
                {"name": "title", "valueString": candidate.section.title},
                {"name": "date", "valueDate": candidate.proposed.isoformat()},
            ]
            owner = _owner_for(pathway, candidate.section, circle)
            if owner:
                parts.append({"name": "owner", "valueReference": {"reference": owner}})
            out.append({"name": "candidate", "part": parts})
        for p in flow.progress(plan, all_steps):
            out.append(
                {
                    "name": "progress",
                    "part": [
                        {
                            "name": "section",
                            "valueCoding": {
                                "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-section",
                                "code": p.section.code,
                                "display": p.section.display,
                            },
                        },
                        {"name": "closed", "valueInteger": p.closed},
                        {"name": "total", "valueInteger": p.total},
                        {"name": "label", "valueString": p.label},
                    ],
                }
            )
        return Outcome(200, {"resourceType": "Parameters", "parameter": out})

    return await in_transaction(ctx, run)


async def _extract(tx: Context, response: dict[str, Any], qr_id: str, patient_id: str) -> None:
    """Close the form: its Observations (weight, height, BMI) are extracted and stored.

    The same SDC extraction as ``$extract``, written here, in the step's
    transaction, as the transaction Bundle of conditional updates on each
    Observation's identifier that ``$extract`` returns (so closing a form twice
    does not duplicate its measures), each entry through the dispatcher and
    so the caller's policy.
    """
    subject = ((response.get("subject") or {}).get("reference")) or ""
    if subject != f"Patient/{patient_id}":
        raise BusinessRuleViolation(
            f"QuestionnaireResponse/{qr_id} is about {subject or 'nobody'}, not the step's "
            f"Patient/{patient_id}",
            msg_id=MSG_FORM,
        )
    if response.get("status") != "completed":
        raise BusinessRuleViolation(
            f"QuestionnaireResponse/{qr_id} is {response.get('status')}: a form closes the step "
            "once completed (« Clôturer »); save it in progress (« Enregistrer ») until then",
            msg_id=MSG_FORM,
        )
    url = str(response.get("questionnaire") or "").partition("|")[0]
    questionnaire = tx.services.ig.by_url().get(url)
    if questionnaire is None:
        return  # not a form of this guide: nothing to extract
    extraction = qx.extract(questionnaire, {**response, "id": qr_id})
    request = replace(resolve("POST", ""), body=extraction.bundle)
    await bundle.process(tx, request, dispatch.handle)  # runs inside the step's transaction


async def _file_report(
    tx: Context,
    report: dict[str, Any],
    accepted: tuple[str, ...],
    task: dict[str, Any],
    patient_id: str,
    when: date,
    index: int,
) -> str:
    """Store a report as a DocumentReference and its content as a Binary; its id."""
    where = f"Parameters.parameter.where(name = 'report')[{index}]"
    document = {k: v for k, v in report.items() if k not in ("id", "meta")}
    document["meta"] = {
        "profile": (report.get("meta") or {}).get("profile") or [steps.DOCUMENT_PROFILE]
    }
    document["subject"] = {"reference": f"Patient/{patient_id}"}
    document.setdefault("status", "current")
    document.setdefault("date", instant(now()))
    # the structure first (400 naming the element), so what follows reads valid FHIR
    check_structure("DocumentReference", document, max_depth=tx.settings.max_depth)
    _check_category(document, accepted, where)
    contents = document.get("content") or []
    if len(contents) != 1 or not isinstance(contents[0], dict):
        raise _bad(f"{where}: a report has one content with its attachment")
    attachment = dict(contents[0].get("attachment") or {})
    data = attachment.pop("data", None)
    if not isinstance(data, str) or not data:
        raise _bad(f"{where}: the attachment's data (base64) is the report itself")
    try:
        size = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise _bad(f"{where}: the attachment's data is not base64") from None
    doc_id, binary_id = new_id(), new_id()
    attachment["url"] = f"Binary/{binary_id}"
    attachment["size"] = size
    document["content"] = [{**contents[0], "attachment": attachment}]
    context = dict(document.get("context") or {})
    context["related"] = [
        *[r for r in context.get("related") or [] if isinstance(r, dict)],
        {"reference": f"Task/{task['id']}"},
    ]
    context.setdefault("period", {"start": when.isoformat()})
    document["context"] = context
    stored = await save(tx, "DocumentReference", doc_id, document, previous=None)
    binary = {
        "resourceType": "Binary",
        "contentType": attachment.get("contentType") or "application/octet-stream",
        "securityContext": {"reference": f"DocumentReference/{doc_id}"},
        "data": data,
    }
    await save(tx, "Binary", binary_id, binary, previous=None)
    return stored.id


async def _send_report(
    tx: Context,
    circle: CareCircle,
    principal: Principal | None,
    patient_id: str,
    task_id: str,
    documents: list[str],
) -> None:
    """Send the final report to the child's doctor and the other professionals.

    The booklet: "transmettre le BILAN au médecin traitant de l'enfant et autres PS";
    one Communication per recipient, carrying the report.
    """
    mine = set(principal.member_refs()) if principal is not None else set()
    recipients = [
        m.reference
        for m in circle.members
        if set(m.roles) & set(PROFESSIONAL_ROLES) and m.reference not in mine
    ]
    for recipient in dict.fromkeys(recipients):
        note: dict[str, Any] = {
            "resourceType": "Communication",
            "status": "completed",
            "subject": {"reference": f"Patient/{patient_id}"},
            "about": [{"reference": f"Task/{task_id}"}],
            "sent": instant(now()),
            "recipient": [{"reference": recipient}],
            "payload": [
                {"contentReference": {"reference": f"DocumentReference/{d}"}} for d in documents
            ],
        }
        if principal is not None and principal.fhir_user:
            note["sender"] = {"reference": principal.fhir_user}
        await store(
            tx.as_server(),
            "Communication",
            new_id(),
            await prepare(tx, "Communication", note),
            previous=None,
            method="POST",
        )


async def _trigger(
    tx: Context,
    pathway: PathwayEngine,
    triggers: list[dict[str, Any]],
    completed: Section,
    all_steps: list[dict[str, Any]],
    careplan: dict[str, Any],
    plan_id: str,
    patient_id: str,
    calendar: Any,
    circle: CareCircle | None,
    task: dict[str, Any],
    when: date,
) -> list[StoredResource]:
    """Create the steps of each chosen section.

    The booklet: "Les étapes choisies du parcours se déclenchent".
    """
    if not triggers:
        return []
    plan = pathway.plan
    offered = {
        c.section.action_id: c
        for c in flow.candidates(plan, completed.code, all_steps, calendar, when)
    }
    recipients = [
        str(r.get("reference"))
        for r in ((task.get("restriction") or {}).get("recipient") or [])
        if isinstance(r, dict) and r.get("reference")
    ]
    created: list[StoredResource] = []
    for i, trigger in enumerate(triggers):
        action = str(trigger["action"])
        section = plan.section(action.partition(".")[0])
        where = f"Parameters.parameter.where(name = 'trigger')[{i}]"
        if section is None:
            raise BusinessRuleViolation(
                f"{where}: '{action}' is not an action of the PlanDefinition", msg_id=MSG_TRIGGER
            )
        reason = flow.may_trigger(plan, section, all_steps)
        if reason is None and section.action_id not in offered:
            reason = (
                f"'{section.action_id}' does not follow '{completed.action_id}' "
                f"or '{completed.action_id}' still has open steps"
            )
        if reason is not None:
            raise BusinessRuleViolation(
                f"{where}: {reason}; may be triggered now: {', '.join(offered) or 'nothing'}",
                msg_id=MSG_TRIGGER,
            )
        chosen = _date(trigger.get("date"), "trigger.date")
        day = calendar.next_working_day(chosen) if chosen else offered[section.action_id].proposed
        owner_given = trigger.get("owner")
        if isinstance(owner_given, dict) and owner_given.get("reference"):
            owner: str | None = str(owner_given.get("reference"))
            allowed = _assignable(circle)
            if owner not in allowed:
                raise BusinessRuleViolation(
                    f"{where}: {owner} is not a member of the child's care circle who may "
                    f"receive steps; assignable: {', '.join(allowed) or 'nobody'}",
                    expression=(f"{where}.part.where(name = 'owner')",),
                    msg_id=MSG_TRIGGER_OWNER,
                )
        else:
            owner = _owner_for(pathway, section, circle)
        requester = ((careplan.get("author") or {}).get("reference")) or None
        for step in section.steps:
            body = steps.task(
                pathway.table,
                section,
                step,
                careplan_id=plan_id,
                patient_id=patient_id,
                scheduled=day,
                owner=owner,
                recipients=recipients,
                requester=requester,
                authored=instant(now()),
            )
            task_id = new_id()
            stored = await save(tx, "Task", task_id, body, previous=None)
            created.append(stored)
            all_steps.append(stored.resource or {})
        offered.pop(section.action_id, None)
    if created:
        fresh = await tx.services.repository.read("CarePlan", plan_id, tx.scope.unrestricted())
        assert fresh is not None and fresh.resource is not None
        plan_body = {k: v for k, v in fresh.resource.items() if k not in ("meta", "id")}
        plan_body["meta"] = {"profile": (fresh.resource.get("meta") or {}).get("profile") or []}
        plan_body["activity"] = [
            *(fresh.resource.get("activity") or []),
            *[{"reference": {"reference": f"Task/{s.id}"}} for s in created],
        ]
        server = tx.as_server()
        await save(server, "CarePlan", plan_id, {**plan_body, "id": plan_id}, previous=fresh)
    return created


OPERATION = Operation(
    name="complete-step",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Task"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
