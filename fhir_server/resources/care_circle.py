"""Write-time rules of the care circle (cercle de soins), whoever writes the CareTeam.

The booklet's rules hold for ``CareTeam/$add-member``, ``$add-group`` and a
plain ``PUT`` / ``PATCH`` / bundle entry alike, because they live here:

* **role order** ("les rôles récurrents et/ou prioritaires sont mis en avant
  ... par ordre d'importance"): ``RolePriority`` ranks roles by the
  ``priority`` property of the IG's ``mrtc-care-circle-role`` CodeSystem (or
  ``FHIR_CARE_CIRCLE_ROLE_ORDER``); the server's own additions
  (``$add-member``, ``$add-group``, an accepted access request) insert each
  member at its rank, and a client writing the whole CareTeam keeps its order;
* **manual members** ("Cercle de soins - Ajout manuel"): a manually added
  professional whose answer to "doit-il pouvoir accéder au dossier ?" or
  "est-il informé ?" is yes carries the ``directoryRequestPending`` marker
  (the booklet's icon) and an e-mail goes to the ROR service centre
  (``FHIR_ROR_SERVICE_CENTRE_EMAIL``); it goes again whenever the participant's
  manual-member answers, unit or role change, or the Practitioner it
  references changes (``ManualPractitionerChanges``). Two "non": no mail. The
  marker leaves with the manual extension, when a directory entry replaces it;
* **new members are told** ("ils reçoivent immédiatement un mail /
  notification"): each member newly added (not a manual member, who never
  gains access) gets a Communication and an e-mail, except the person adding
  themselves;
* **pathway steps** (``TaskAssignment``): whenever a Task's ``owner`` is set
  or changes to a person, role or structure, the new owner is notified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir_server.ig import ImplementationGuide
from fhir_server.notify.notifier import Notifier, display_name
from fhir_server.resources.hooks import BaseHooks
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import Settings
from fhir_server.storage.lookup import Lookup
from fhir_server.storage.repository import ReadScope, Repository

CATEGORY_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"
CARE_CIRCLE = (CATEGORY_SYSTEM, "care-circle")
ROLE_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
MANUAL_MEMBER = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-manual-member"
MEMBER_DESCRIPTION = (
    "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-member-description"
)
PENDING = "directoryRequestPending"
NOTIFIED_TYPES = ("Practitioner", "PractitionerRole", "Organization")
LAST = 1_000_000  # the priority of a role the list does not name


def local(ref: Any) -> str:
    """``{"reference": "http://x/fhir/Practitioner/1"}`` -> ``Practitioner/1``; '' if none."""
    text = ref.get("reference") if isinstance(ref, dict) else ref
    if not isinstance(text, str) or text.startswith("#"):
        return ""
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else text


def is_care_circle(team: Mapping[str, Any] | None) -> bool:
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == CARE_CIRCLE
        for concept in (team or {}).get("category") or []
        for c in (concept or {}).get("coding") or []
    )


def manual_extension(participant: Mapping[str, Any]) -> dict[str, Any] | None:
    for ext in participant.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == MANUAL_MEMBER:
            return ext
    return None


def manual_answers(participant: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manual-member form's answers by name, or None for a directory member."""
    ext = manual_extension(participant)
    if ext is None:
        return None
    out: dict[str, Any] = {}
    for sub in ext.get("extension") or []:
        if isinstance(sub, dict) and sub.get("url"):
            out[str(sub["url"])] = next((v for k, v in sub.items() if k.startswith("value")), None)
    return out


def needs_directory_request(answers: Mapping[str, Any] | None) -> bool:
    """The booklet: a professional, and "accès" or "informé" answered yes (either one)."""
    if not answers or answers.get("professional") is not True:
        return False
    return answers.get("accessRequested") is True or answers.get("informed") is True


class RolePriority:
    """Display order of care-circle roles: the IG's ``priority`` property, or a setting."""

    def __init__(self, ig: ImplementationGuide, order: str = "") -> None:
        self.priority: dict[str, int] = {}
        for cs in ig.of_type("CodeSystem"):
            if cs.get("url") != ROLE_SYSTEM:
                continue
            for concept in cs.get("concept") or []:
                for prop in concept.get("property") or []:
                    if prop.get("code") == "priority" and "valueInteger" in prop:
                        self.priority[str(concept["code"])] = int(prop["valueInteger"])
        codes = [c.strip() for c in order.split(",") if c.strip()]
        if codes:  # FHIR_CARE_CIRCLE_ROLE_ORDER: the listed codes first, in that order
            self.priority = {code: rank for rank, code in enumerate(codes)}

    def of(self, participant: Mapping[str, Any]) -> int:
        ranks = [
            self.priority.get(str(c.get("code")), LAST)
            for concept in participant.get("role") or []
            if isinstance(concept, dict)
            for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("system") == ROLE_SYSTEM
        ]
        return min(ranks, default=LAST)

    def insert(self, participants: Sequence[Any], new: Mapping[str, Any]) -> list[Any]:
        """``participants`` with ``new`` after the last member of equal or higher priority.

        On a circle kept in priority order this keeps it in order; a client's own
        order of the existing members is never changed.
        """
        rank = self.of(new)
        position = 0
        for i, p in enumerate(participants):
            if isinstance(p, dict) and self.of(p) <= rank:
                position = i + 1
        return [*participants[:position], new, *participants[position:]]


def _with_marker(participant: dict[str, Any]) -> dict[str, Any]:
    """The participant with its pending marker set or cleared to match its answers.

    A marker already in place stays where it is (a client's order is kept).
    """
    ext = manual_extension(participant)
    if ext is None:
        return participant
    wanted = needs_directory_request(manual_answers(participant))
    subs = list(ext.get("extension") or [])
    markers = [s for s in subs if isinstance(s, dict) and s.get("url") == PENDING]
    if wanted and markers == [{"url": PENDING, "valueBoolean": True}]:
        return participant
    subs = [s for s in subs if not (isinstance(s, dict) and s.get("url") == PENDING)]
    if wanted:
        subs.append({"url": PENDING, "valueBoolean": True})
    new_ext = {**ext, "extension": subs}
    return {
        **participant,
        "extension": [new_ext if e is ext else e for e in participant.get("extension") or []],
    }


def _actor_refs(actor: Any) -> set[str]:
    principal = getattr(actor, "principal", None)
    refs = set(getattr(principal, "member_refs", lambda: [])())
    fhir_user = getattr(principal, "fhir_user", None)
    if fhir_user:
        refs.add(str(fhir_user))
    return refs


def _sender(actor: Any) -> tuple[str | None, dict[str, str]]:
    principal = getattr(actor, "principal", None)
    fhir_user = getattr(principal, "fhir_user", None)
    name = getattr(principal, "name", "") or ""
    return (str(fhir_user) if fhir_user else None), ({"sender_name": name} if name else {})


def _yes_no(value: Any) -> str:
    return "Oui" if value is True else "Non"


def _role_display(participant: Mapping[str, Any]) -> str:
    for concept in participant.get("role") or []:
        for c in (concept or {}).get("coding") or []:
            if isinstance(c, dict) and (c.get("display") or c.get("code")):
                return str(c.get("display") or c.get("code"))
        if isinstance(concept, dict) and concept.get("text"):
            return str(concept["text"])
    return ""


class ServiceCentreMail:
    """The e-mail asking the ROR service centre to register a manually added professional."""

    def __init__(self, notifier: Notifier, settings: Settings) -> None:
        self.notifier = notifier
        self.address = settings.notify.ror_service_centre_email

    async def send(
        self,
        scope: ReadScope,
        team_id: str,
        participant: Mapping[str, Any],
        actor: Any,
        *,
        change: bool,
    ) -> None:
        if not self.address:
            return
        answers = manual_answers(participant) or {}
        member = local(participant.get("member"))
        person = await self.notifier.read(member, scope) or {}
        unit = await self.notifier.read(local(participant.get("onBehalfOf")), scope)
        name = next((n for n in person.get("name") or [] if isinstance(n, dict)), {})
        profession = next(
            (
                str(c.get("display") or c.get("code"))
                for q in person.get("qualification") or []
                for c in (q.get("code") or {}).get("coding") or []
                if isinstance(c, dict)
            ),
            "",
        )
        city = next((str(a.get("city")) for a in person.get("address") or [] if a.get("city")), "")
        phone = next(
            (
                str(t.get("value"))
                for t in person.get("telecom") or []
                if isinstance(t, dict) and t.get("system") == "phone"
            ),
            "",
        )
        sender, values = _sender(actor)
        values.update(
            {
                "family": str(name.get("family") or ""),
                "given": " ".join(str(g) for g in name.get("given") or []),
                "profession": profession,
                "city": city,
                "phone": phone,
                "unit": display_name(unit),
                "access_requested": _yes_no(answers.get("accessRequested")),
                "informed": _yes_no(answers.get("informed")),
                "remarks": str(answers.get("remarks") or ""),
                "reference": f"CareTeam/{team_id} - {member}",
                "change": (
                    "\n\nLes informations de ce professionnel ont été modifiées : "
                    "cette demande remplace la précédente."
                    if change
                    else ""
                ),
            }
        )
        await self.notifier.enqueue(
            scope,
            "directory-request",
            f"mailto:{self.address}",
            sender=sender,
            values=values,
            communication=False,
        )


class CareCircleRules:
    """Hooks for CareTeam (see module docstring)."""

    def __init__(self, priority: RolePriority, notifier: Notifier, mail: ServiceCentreMail) -> None:
        self.priority = priority
        self.notifier = notifier
        self.mail = mail

    async def normalise(self, resource: dict[str, Any]) -> dict[str, Any]:
        if not is_care_circle(resource) or not isinstance(resource.get("participant"), list):
            return resource
        participants = [
            _with_marker(p) if isinstance(p, dict) else p for p in resource["participant"]
        ]
        return {**resource, "participant": participants}

    async def effects(self, event: Any, scope: ReadScope) -> None:
        team = event.resource
        if team is None or not is_care_circle(team):
            return
        previous = (
            event.previous.resource if event.previous and not event.previous.deleted else None
        )
        before: dict[str, dict[str, Any]] = {}
        for p in (previous or {}).get("participant") or []:
            if isinstance(p, dict) and local(p.get("member")):
                before[local(p.get("member"))] = p
        mine = _actor_refs(event.actor)
        sender, values = _sender(event.actor)
        patient = local(team.get("subject"))
        for p in team.get("participant") or []:
            if not isinstance(p, dict):
                continue
            ref = local(p.get("member"))
            if not ref:
                continue
            old = before.get(ref)
            answers = manual_answers(p)
            if answers is not None:
                if needs_directory_request(answers) and (
                    old is None or _manual_form(old) != _manual_form(p)
                ):
                    await self.mail.send(
                        scope,
                        event.id,
                        p,
                        event.actor,
                        change=old is not None and needs_directory_request(manual_answers(old)),
                    )
                continue
            joined = old is None or manual_answers(old) is not None
            if not joined or ref in mine or ref.split("/")[0] not in NOTIFIED_TYPES:
                continue
            if team.get("status") != "active":
                continue
            await self.notifier.enqueue(
                scope,
                "care-circle-added",
                ref,
                patient=patient or None,
                about=[f"CareTeam/{event.id}"],
                sender=sender,
                values={**values, "role": _role_display(p)},
            )

    async def after_commit(self, event: Any) -> None:
        self.notifier.wake()


def _manual_form(participant: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the manual form holds for the service centre: a change re-sends the mail."""
    answers = dict(manual_answers(participant) or {})
    answers.pop(PENDING, None)
    return (
        sorted((k, repr(v)) for k, v in answers.items()),
        local(participant.get("onBehalfOf")),
        _role_display(participant),
    )


class ManualPractitionerChanges(BaseHooks):
    """Hooks for Practitioner: a pending manual member's details changed -> mail again."""

    WATCHED = ("name", "address", "telecom", "qualification", "identifier")

    def __init__(
        self,
        repository: Repository,
        registry: SearchParameterRegistry,
        settings: Settings,
        notifier: Notifier,
        mail: ServiceCentreMail,
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings
        self.notifier = notifier
        self.mail = mail

    async def effects(self, event: Any, scope: ReadScope) -> None:
        if event.resource is None or event.previous is None or event.previous.resource is None:
            return
        old, new = event.previous.resource, event.resource
        if all(old.get(k) == new.get(k) for k in self.WATCHED):
            return
        ref = f"Practitioner/{event.id}"
        teams = await Lookup(self.repository, self.registry, self.settings.search).find(
            "CareTeam", [("participant", ref), ("directory-request-pending", "true")], scope, 1000
        )
        for stored in teams:
            for p in (stored.resource or {}).get("participant") or []:
                if (
                    isinstance(p, dict)
                    and local(p.get("member")) == ref
                    and needs_directory_request(manual_answers(p))
                ):
                    await self.mail.send(scope, stored.id, p, event.actor, change=True)

    async def after_commit(self, event: Any) -> None:
        self.notifier.wake()


class TaskAssignment(BaseHooks):
    """Hooks for Task: the new owner of a step is told (any path: PUT, bundle, operation)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def effects(self, event: Any, scope: ReadScope) -> None:
        task = event.resource
        if task is None:
            return
        owner = local(task.get("owner"))
        before = (
            local((event.previous.resource or {}).get("owner"))
            if event.previous is not None and not event.previous.deleted
            else ""
        )
        if not owner or owner == before or owner.split("/")[0] not in NOTIFIED_TYPES:
            return
        if owner in _actor_refs(event.actor) or task.get("status") in (
            "cancelled",
            "completed",
            "entered-in-error",
            "failed",
            "rejected",
        ):
            return
        sender, values = _sender(event.actor)
        end = str(((task.get("restriction") or {}).get("period") or {}).get("end") or "")
        values.update(
            {"task": _task_label(task), "due": f" (échéance : {end[:10]})" if end else ""}
        )
        patient = local(task.get("for")) or next(
            (local(f) for f in [task.get("focus")] if local(f).startswith("Patient/")), ""
        )
        await self.notifier.enqueue(
            scope,
            "task-assigned",
            owner,
            patient=patient if patient.startswith("Patient/") else None,
            about=[f"Task/{event.id}"],
            sender=sender,
            values=values,
        )

    async def after_commit(self, event: Any) -> None:
        self.notifier.wake()


def _task_label(task: Mapping[str, Any]) -> str:
    if task.get("description"):
        return str(task["description"])
    code = task.get("code") or {}
    if code.get("text"):
        return str(code["text"])
    for c in code.get("coding") or []:
        if isinstance(c, dict) and (c.get("display") or c.get("code")):
            return str(c.get("display") or c.get("code"))
    return "étape du parcours"


def register(
    hooks: Any,
    settings: Settings,
    ig: ImplementationGuide,
    registry: SearchParameterRegistry,
    repository: Repository,
    notifier: Notifier,
) -> None:
    """Register the care-circle, step-assignment and favourites hooks (bootstrap)."""
    from fhir_server.resources.access_requests import AccessRequestDecisions
    from fhir_server.resources.favourites import FavouritesGroupRules

    mail = ServiceCentreMail(notifier, settings)
    priority = RolePriority(ig, settings.care_circle_role_order)
    hooks.register("CareTeam", CareCircleRules(priority, notifier, mail))
    hooks.register(
        "Practitioner", ManualPractitionerChanges(repository, registry, settings, notifier, mail)
    )
    hooks.register("Task", TaskAssignment(notifier))
    hooks.register(
        "Task", AccessRequestDecisions(repository, registry, settings, notifier, priority)
    )
    hooks.register("Group", FavouritesGroupRules())
