"""$break-glass — POST Patient/[id]/$break-glass (this server's operation).

ig/OperationDefinition-Patient-break-glass.json; the booklet's "Accès bris de
glace": a person or structure not habilitated on a record opens it for
FHIR_BREAK_GLASS_SECONDS (about two hours) by giving a mandatory reason. In one
transaction the server records the grant as an AuditEvent (purpose of use
``v3-ActReason#BTG``, the reason as its text, subtype ``break-glass``) and
stores one Communication per habilitated member of the record's care circle,
with the booklet's wording ("Accès en mode bris de glace par NOM Prénom -
motif : ..."), and the same text by e-mail (``fhir_server.notify``, outbox
in the same transaction); the news feed shows the grant. The grant is that AuditEvent:
the policy finds it (``security.habilitation``) until it expires. Trusted
systems cannot break glass (403, ``security.questions``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fhir_server.errors import InvalidRequest, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import in_transaction, new_id, store
from fhir_server.notify.notifier import Notifier
from fhir_server.operations.parameters import (
    body_resource,
    collect_parameters,
    parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.security.audit import INTERACTION_SYSTEM, audit_event
from fhir_server.security.care_policy import CarePolicy
from fhir_server.security.habilitation import AUDIT_SUBTYPE_SYSTEM, BREAK_GLASS
from fhir_server.security.principal import Principal
from fhir_server.storage.repository import ReadScope, instant, now

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Patient-break-glass"
OP = "$break-glass"


def notification_text(principal: Principal, reason: str) -> str:
    """The booklet's wording of the news-feed entry and of the notification."""
    return (
        f"Accès en mode bris de glace par {principal.name or principal.subject} - motif : {reason}"
    )


def communication(
    patient_id: str, recipient: str, principal: Principal, text: str, audit_id: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": AUDIT_SUBTYPE_SYSTEM,
                        "code": BREAK_GLASS,
                        "display": "Accès en mode bris de glace",
                    }
                ]
            }
        ],
        "priority": "urgent",
        "subject": {"reference": f"Patient/{patient_id}"},
        "about": [{"reference": f"AuditEvent/{audit_id}"}],
        "sent": instant(now()),
        "recipient": [{"reference": recipient}],
        "payload": [{"contentString": text}],
    }
    if principal.fhir_user:
        body["sender"] = {"reference": principal.fhir_user, "display": principal.name}
    return body


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "Patient" and req.id is not None
    principal = ctx.principal
    policy = ctx.services.policy
    assert isinstance(principal, Principal) and isinstance(policy, CarePolicy)
    params = collect_parameters(query_params(req), body_resource(req), ("reason",), OP)
    reason = single(params, "reason", OP)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest(
            f"{OP} needs a non-empty 'reason' (the booklet's mandatory motif)",
            expression=("Parameters.parameter.where(name = 'reason')",),
            msg_id="MRTC-BG-001",
        )
    reason = reason.strip()
    patient_id = req.id
    repository = ctx.services.repository
    found = await repository.read("Patient", patient_id, ReadScope())
    if found is None or found.deleted:
        raise ResourceNotFound(
            f"Resource Patient/{patient_id} was not found", msg_id="MRTC-REST-020"
        )
    trail = ctx.services.audit
    assert trail is not None
    seconds = ctx.settings.auth.break_glass_seconds
    text = notification_text(principal, reason)
    notifier = ctx.services.notifier

    async def run(tx: Context) -> tuple[str, str]:
        event = audit_event(
            principal=principal,
            action="E",
            subtypes=[(INTERACTION_SYSTEM, "operation"), (AUDIT_SUBTYPE_SYSTEM, BREAK_GLASS)],
            outcome="0",
            what=[f"Patient/{patient_id}"],
            patients=[patient_id],
            purpose_btg=True,
            purpose_text=reason,
            source=tx.source,
            request_id=tx.request_id,
            description=text,
        )
        stored = await trail.store(event, tx.scope)
        recorded = str((stored.resource or {}).get("recorded"))
        server = tx.as_server()
        own = set(principal.member_refs())
        for member in await policy.habilitations.members(patient_id, tx.scope):
            if member in own:
                continue
            note = communication(patient_id, member, principal, text, stored.id)
            await store(server, "Communication", new_id(), note, previous=None, method="POST")
            if notifier is not None:  # the same news by e-mail (fhir_server.notify)
                await notifier.enqueue(
                    tx.scope,
                    "break-glass",
                    member,
                    patient=f"Patient/{patient_id}",
                    values={"text": text},
                    communication=False,
                )
        assert tx.after_commit is not None
        tx.after_commit.append(_invalidate(policy))
        if notifier is not None:
            tx.after_commit.append(_wake(notifier))
        return stored.id, recorded

    audit_id, recorded = await in_transaction(ctx, run)
    expires = instant(_parse(recorded) + timedelta(seconds=seconds))
    return Outcome(
        200,
        parameters(
            ("expires", "valueInstant", expires),
            ("auditEvent", "valueReference", {"reference": f"AuditEvent/{audit_id}"}),
        ),
    )


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _wake(notifier: Notifier) -> Any:
    async def action() -> None:
        notifier.wake()

    return action


def _invalidate(policy: CarePolicy) -> Any:
    async def action() -> None:
        policy.invalidate()

    return action


OPERATION = Operation(
    name="break-glass",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
