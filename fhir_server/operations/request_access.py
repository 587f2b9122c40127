"""$request-access — POST Patient/[id]/$request-access (this server's operation).

ig/OperationDefinition-Patient-request-access.json; the booklet: after a
break-glass access expires, "une demande d'accès définitif auprès d'un
membre du cercle de soins est nécessaire". A person or structure that does
not open the record asks, with a mandatory reason; the server stores the
request as a Task addressed to the record's habilitated members
(``restriction.recipient``; ``requester`` the caller) and tells each of them
(Communication + e-mail). A member accepts or refuses by updating the Task's
status (``resources.access_requests``). The caller gets the Task's id; it
cannot read the Task, which belongs to a record it does not open.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Forbidden, InvalidRequest, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import in_transaction, new_id, prepare, store
from fhir_server.notify.notifier import NOTIFICATION_SYSTEM
from fhir_server.operations.parameters import (
    body_resource,
    collect_parameters,
    parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.resources.access_requests import ACCESS_REQUEST
from fhir_server.security.care_policy import CarePolicy
from fhir_server.security.principal import Principal
from fhir_server.storage.repository import ReadScope, instant, now

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Patient-request-access"
OP = "$request-access"


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "Patient" and req.id is not None
    principal, policy = ctx.principal, ctx.services.policy
    assert isinstance(principal, Principal) and isinstance(policy, CarePolicy)
    params = collect_parameters(query_params(req), body_resource(req), ("reason",), OP)
    reason = single(params, "reason", OP)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest(f"{OP} needs a non-empty 'reason'", msg_id="MRTC-CC-030")
    if principal.is_system or not principal.fhir_user:
        raise Forbidden(f"{OP} is asked by a person or a structure", msg_id="MRTC-CC-031")
    found = await ctx.services.repository.read("Patient", req.id, ReadScope())
    if found is None or found.deleted:
        raise ResourceNotFound(f"Resource Patient/{req.id} was not found", msg_id="MRTC-REST-020")
    notifier = ctx.services.notifier
    patient = f"Patient/{req.id}"

    async def run(tx: Context) -> str:
        members = [
            m
            for m in await policy.habilitations.members(req.id or "", tx.scope)
            if m not in principal.member_refs()
        ]
        if not members:
            raise InvalidRequest(
                f"{patient} has no habilitated member to ask", msg_id="MRTC-CC-032"
            )
        task: dict[str, Any] = {
            "resourceType": "Task",
            "status": "requested",
            "intent": "proposal",
            "code": {
                "coding": [
                    {
                        "system": NOTIFICATION_SYSTEM,
                        "code": ACCESS_REQUEST,
                        "display": "Demande d'accès au dossier",
                    }
                ]
            },
            "description": f"Demande d'accès au dossier - motif : {reason.strip()}",
            "for": {"reference": patient},
            "authoredOn": instant(now()),
            "requester": {"reference": principal.fhir_user},
            "restriction": {"recipient": [{"reference": m} for m in members]},
            "reasonCode": {"text": reason.strip()},
        }
        server = tx.as_server()
        task = await prepare(server, "Task", task)
        task_id = new_id()
        await store(server, "Task", task_id, task, previous=None, method="POST")
        if notifier is not None:
            for member in members:
                await notifier.enqueue(
                    tx.scope,
                    "access-request",
                    member,
                    patient=patient,
                    about=[f"Task/{task_id}"],
                    sender=principal.fhir_user,
                    values={
                        "reason": reason.strip(),
                        "task": f"Task/{task_id}",
                        **({"sender_name": principal.name} if principal.name else {}),
                    },
                )
        return task_id

    task_id = await in_transaction(ctx, run)
    if notifier is not None:
        notifier.wake()
    return Outcome(200, parameters(("task", "valueReference", {"reference": f"Task/{task_id}"})))


OPERATION = Operation(
    name="request-access",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
