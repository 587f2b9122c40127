"""``Notifier.enqueue``: tell someone something, in the transaction of what caused it.

For a recipient that is a resource of this server (``Practitioner/…``,
``PractitionerRole/…``, ``Organization/…``, ``RelatedPerson/…``) it stores a
``Communication`` (category ``mrtc-notification#<kind>``, ``subject`` the
record, ``about`` what caused it, the e-mail text as payload) and queues an
e-mail to the recipient's ``telecom`` e-mail addresses (a PractitionerRole
without one falls back to its Practitioner, then its Organization). For a
bare address (``mailto:aide@iess.fr``) only the e-mail is queued. Both are
written with the caller's transaction: they commit or vanish with the change.

Every feature calls this one method; none needs to know the outbox, the
templates or the delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fhir_server.notify.templates import render
from fhir_server.storage.outbox import Outbox, OutboxMessage
from fhir_server.storage.repository import Change, ReadScope, Repository, instant, now

NOTIFICATION_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-notification"
PEOPLE = ("Practitioner", "PractitionerRole", "Organization", "RelatedPerson", "Patient")


def display_name(resource: Mapping[str, Any] | None) -> str:
    """``NOM Prénom`` of a person, the name of an organisation, or ''."""
    if not resource:
        return ""
    if isinstance(resource.get("name"), str):
        return str(resource["name"])
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        family = str(name.get("family") or "").upper()
        given = " ".join(str(g) for g in name.get("given") or [])
        text = " ".join(p for p in (family, given) if p) or str(name.get("text") or "")
        if text:
            return text
    return ""


def emails(resource: Mapping[str, Any] | None) -> list[str]:
    out = []
    for telecom in (resource or {}).get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") == "email" and telecom.get("value"):
            out.append(str(telecom["value"]))
    return out


def _local(ref: Any) -> str:
    text = ref.get("reference") if isinstance(ref, dict) else ref
    if not isinstance(text, str):
        return ""
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else text


class Notifier:
    """Writes notifications (Communication + outbox e-mail) inside a transaction."""

    def __init__(self, repository: Repository, outbox: Outbox) -> None:
        self.repository = repository
        self.outbox = outbox
        self.poke: Any = None  # set by the worker: wake it once a notification is committed

    def wake(self) -> None:
        """Call after a commit that queued mail (hooks' ``after_commit``): deliver without delay."""
        if self.poke is not None:
            self.poke()

    async def read(self, ref: str, scope: ReadScope) -> dict[str, Any] | None:
        type_, _, id_ = _local(ref).partition("/")
        if type_ not in PEOPLE or not id_:
            return None
        stored = await self.repository.read(type_, id_, scope.unrestricted())
        if stored is None or stored.deleted:
            return None
        return stored.resource

    async def addresses(self, ref: str, scope: ReadScope) -> list[str]:
        """The e-mail addresses of a local person or structure (see module docstring)."""
        if ref.startswith("mailto:"):
            return [ref.removeprefix("mailto:")]
        resource = await self.read(ref, scope)
        found = emails(resource)
        if not found and resource and resource.get("resourceType") == "PractitionerRole":
            for link in ("practitioner", "organization"):
                found = emails(await self.read(_local(resource.get(link)), scope))
                if found:
                    break
        return found

    async def patient_values(self, patient: str | None, scope: ReadScope) -> dict[str, str]:
        if not patient:
            return {}
        resource = await self.read(patient, scope)
        return {
            "patient_name": display_name(resource) or patient,
            "patient_birth_date": str((resource or {}).get("birthDate") or ""),
        }

    async def enqueue(
        self,
        scope: ReadScope,
        kind: str,
        recipient: str,
        *,
        patient: str | None = None,
        about: Sequence[str] = (),
        sender: str | None = None,
        values: Mapping[str, str] | None = None,
        communication: bool = True,
    ) -> str | None:
        """Notify ``recipient`` of ``kind`` inside ``scope``'s transaction.

        ``recipient``: a local reference or ``mailto:address``; ``patient``:
        ``Patient/id`` of the record concerned; ``about``: references of what
        caused it; ``sender``: the reference of who did it; ``values``: the
        template's placeholders (``recipient_name``, ``patient_name``,
        ``patient_birth_date`` and ``sender_name`` are filled in when not
        given). ``communication=False`` queues the e-mail only (a caller that
        stores its own Communication). Returns the Communication id, if any.
        """
        if scope.transaction is None:
            raise RuntimeError("Notifier.enqueue() must run inside a transaction")
        filled: dict[str, str] = await self.patient_values(patient, scope)
        if not recipient.startswith("mailto:"):
            filled["recipient_name"] = display_name(await self.read(recipient, scope))
        if sender:
            filled["sender_name"] = display_name(await self.read(sender, scope)) or sender
        else:
            filled["sender_name"] = "La plateforme de coordination"
        filled.update(values or {})
        text = render(kind, filled)
        comm_id: str | None = None
        if communication and not recipient.startswith("mailto:"):
            comm_id = await self._communication(
                scope, kind, recipient, patient, about, sender, text.subject, text.body
            )
        to = await self.addresses(recipient, scope)
        if to:
            message = OutboxMessage(
                str(uuid.uuid4()), tuple(dict.fromkeys(to)), text.subject, text.body, kind
            )
            await self.outbox.add(message, scope)
        return comm_id

    async def _communication(
        self,
        scope: ReadScope,
        kind: str,
        recipient: str,
        patient: str | None,
        about: Sequence[str],
        sender: str | None,
        subject: str,
        body: str,
    ) -> str:
        id_, when = str(uuid.uuid4()), now()
        resource: dict[str, Any] = {
            "resourceType": "Communication",
            "id": id_,
            "meta": {"versionId": "1", "lastUpdated": instant(when)},
            "status": "completed",
            "category": [
                {"coding": [{"system": NOTIFICATION_SYSTEM, "code": kind}], "text": subject}
            ],
        }
        if patient:
            resource["subject"] = {"reference": _local(patient)}
        if about:
            resource["about"] = [{"reference": ref} for ref in about]
        resource["sent"] = instant(when)
        resource["recipient"] = [{"reference": _local(recipient)}]
        if sender:
            resource["sender"] = {"reference": sender}
        resource["payload"] = [{"contentString": body}]
        await self.repository.write(
            Change("Communication", id_, 1, None, when, resource, "POST"), scope
        )
        return id_
