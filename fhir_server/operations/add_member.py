"""$add-member — POST CareTeam/[id]/$add-member (this server's operation).

ig/OperationDefinition-CareTeam-add-member.json; the booklet's "Comment
compléter le cercle de soins ?": a member comes with a ``role`` from the
care-circle role list and exactly one of

* ``directoryEntry`` — a ``$directory-search`` result (PractitionerRole or
  Organization): it is copied locally once, with what it references, each
  copy conditional on its national identifier (idNat_PS, FINESS) so a second
  care circle reuses the first copy; the participant references the local
  PractitionerRole (a person) or Organization (a unit) and carries the
  entry's free-text description;
* ``member`` — a Practitioner, PractitionerRole, Organization or
  RelatedPerson already on this server;
* ``manual`` — "Cercle de soins - Ajout manuel": a professional outside the
  ROR (family, given, city, profession and unit required; "doit-il accéder au
  dossier ?" no by default, "est-il informé ?", remarks) becomes a
  Practitioner (``mrtc-manual-practitioner``) attached to its unit, or a
  family member (family, given, phone or e-mail, relationship) a
  RelatedPerson; the participant carries the ``manualMember`` answers.

The CareTeam is then written through the write pipeline, so the care-circle
hooks (``resources.care_circle``) apply exactly as to a plain PUT: role
order, the pending marker and the ROR service-centre e-mail, the new
member's notification. A member already in the circle is not added twice.
Everything is one transaction.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import InvalidRequest, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import in_transaction, new_id, prepare, store
from fhir_server.operations.directory_search import directory_of
from fhir_server.operations.parameters import (
    MSG_BAD_PARAMETER,
    as_bool,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.resources.care_circle import (
    MANUAL_MEMBER,
    MEMBER_DESCRIPTION,
    ROLE_SYSTEM,
    RolePriority,
    is_care_circle,
    local,
)
from fhir_server.storage.lookup import Lookup

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/CareTeam-add-member"
OP = "$add-member"
MANUAL_PRACTITIONER = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-manual-practitioner"
MEMBER_TYPES = ("Practitioner", "PractitionerRole", "Organization", "RelatedPerson")
# National identifiers a directory copy is matched on (reference/french-standards.md §2.2)
NATIONAL_SYSTEMS = (
    "urn:oid:1.2.250.1.71.4.2.1",  # idNat_PS / idNat_Struct
    "https://rpps.esante.gouv.fr",
    "http://finess.sante.gouv.fr",
)
MANUAL_PARTS = (
    "professional",
    "family",
    "given",
    "city",
    "profession",
    "unit",
    "phone",
    "email",
    "relationship",
    "accessRequested",
    "informed",
    "remarks",
)
Resource = dict[str, Any]


def role_coding(ctx: Context, value: Any, *, required: bool) -> Resource | None:
    """The role Coding, checked against the IG's care-circle role list."""
    if value is None:
        if required:
            raise InvalidRequest(
                f"{OP}: 'role' (a Coding of {ROLE_SYSTEM}) is required", msg_id="MRTC-CC-002"
            )
        return None
    codes = role_codes(ctx)
    if (
        not isinstance(value, dict)
        or value.get("system") != ROLE_SYSTEM
        or value.get("code") not in codes
    ):
        raise InvalidRequest(
            f"'role' must be a Coding of {ROLE_SYSTEM} with one of: {', '.join(sorted(codes))}",
            msg_id="MRTC-CC-002",
        )
    return {"system": ROLE_SYSTEM, "code": value["code"], "display": codes[value["code"]]}


def role_codes(ctx: Context) -> dict[str, str]:
    for cs in ctx.services.ig.of_type("CodeSystem"):
        if cs.get("url") == ROLE_SYSTEM:
            return {str(c["code"]): str(c.get("display") or c["code"]) for c in cs["concept"]}
    return {}


async def care_team(ctx: Context, id_: str) -> Any:
    """The care circle as the caller may see it (404 otherwise), checked to be one."""
    current = await load_current(ctx, "CareTeam", id_)
    if not is_care_circle(current.resource):
        raise InvalidRequest(
            f"CareTeam/{id_} is not a care circle (category care-circle)", msg_id="MRTC-CC-003"
        )
    return current


def with_participants(ctx: Context, team: Resource, added: list[Resource]) -> tuple[Resource, int]:
    """``team`` with the ``added`` participants not there yet, each inserted at its role's rank."""
    priority = RolePriority(ctx.services.ig, ctx.settings.care_circle_role_order)
    participants = list(team.get("participant") or [])
    present = {local(p.get("member")) for p in participants if isinstance(p, dict)}
    count = 0
    for p in added:
        ref = local(p.get("member"))
        if ref and ref not in present:
            present.add(ref)
            participants = priority.insert(participants, p)
            count += 1
    return {**team, "participant": participants}, count


async def save_team(tx: Context, current: Any, team: Resource) -> Resource:
    team = await prepare(tx, "CareTeam", team)  # validation and the care-circle rules
    stored = await store(tx, "CareTeam", current.id, team, previous=current, method="PUT")
    return stored.resource or team


def _lookup(tx: Context) -> Lookup:
    return Lookup(tx.services.repository, tx.search_params, tx.settings.search)


async def find_by_identifier(tx: Context, type_: str, identifiers: list[Resource]) -> str | None:
    for ident in identifiers:
        system, value = ident.get("system"), ident.get("value")
        if not system or not value:
            continue
        found = await _lookup(tx).find(type_, [("identifier", f"{system}|{value}")], tx.scope, 1)
        if found:
            return found[0].id
    return None


# -- directory entries -------------------------------------------------------


def _directory_key(base: str, resource: Resource) -> Resource:
    return {"system": f"{base}/{resource['resourceType']}", "value": str(resource["id"])}


def _copy(resource: Resource, key: Resource, ids: dict[str, str]) -> Resource:
    """The local copy: references rewritten to local ids, the unresolvable ones dropped."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta", "text", "contained")}
    body["identifier"] = [*(resource.get("identifier") or []), key]
    for link in ("practitioner", "organization", "partOf"):
        if link in body:
            target = ids.get(local(body[link]))
            if target:
                body[link] = {**body[link], "reference": target}
            else:
                del body[link]
    for link in ("healthcareService", "location", "endpoint"):
        body.pop(link, None)
    return body


async def copy_entry(tx: Context, type_: str, id_: str) -> tuple[str, Resource]:
    """Copy a directory entry (and what it references) locally; returns the member ref."""
    directory = directory_of(tx)
    entry = await directory.entry(type_, id_)
    if entry is None or not entry.matches:
        raise ResourceNotFound(
            f"{type_}/{id_} is not an entry of the directory", msg_id="MRTC-DIR-020"
        )
    order = {"Organization": 0, "Practitioner": 1, "PractitionerRole": 2}
    resources = sorted(
        [*entry.included, *entry.matches],
        key=lambda r: (order.get(r["resourceType"], 3), bool(r.get("partOf"))),
    )
    ids: dict[str, str] = {}
    server = tx.as_server()
    for resource in resources:
        rtype = resource["resourceType"]
        key = _directory_key(directory.base_url, resource)
        national = [
            i
            for i in resource.get("identifier") or []
            if isinstance(i, dict) and i.get("system") in NATIONAL_SYSTEMS
        ]
        existing = await find_by_identifier(tx, rtype, [*national, key])
        if existing is None:
            existing = new_id()
            body = await prepare(tx, rtype, {"resourceType": rtype, **_copy(resource, key, ids)})
            await store(server, rtype, existing, body, previous=None, method="POST")
        ids[f"{rtype}/{resource['id']}"] = f"{rtype}/{existing}"
    match = entry.matches[0]
    return ids[f"{match['resourceType']}/{match['id']}"], match


def _description(resource: Resource) -> list[Resource]:
    return [
        {"url": MEMBER_DESCRIPTION, "valueString": e["valueString"]}
        for e in resource.get("extension") or []
        if isinstance(e, dict) and e.get("url") == MEMBER_DESCRIPTION and e.get("valueString")
    ]


# -- manual members ----------------------------------------------------------


def manual_parts(req: FhirRequest) -> dict[str, Any]:
    """The parts of the ``manual`` parameter by name (a Parameters body only)."""
    body = body_resource(req) or {}
    params = [p for p in body.get("parameter") or [] if p.get("name") == "manual"]
    if len(params) != 1:
        raise InvalidRequest(f"{OP}: 'manual' may appear only once", msg_id=MSG_BAD_PARAMETER)
    out: dict[str, Any] = {}
    for part in params[0].get("part") or []:
        name = part.get("name")
        if name not in MANUAL_PARTS:
            raise InvalidRequest(
                f"{OP}: 'manual' has no part '{name}' (parts: {', '.join(MANUAL_PARTS)})",
                msg_id=MSG_BAD_PARAMETER,
            )
        if name in out:
            raise InvalidRequest(
                f"{OP}: part manual.{name} may appear only once", msg_id=MSG_BAD_PARAMETER
            )
        out[name] = next((v for k, v in part.items() if k.startswith("value")), None)
    return out


def _text(parts: dict[str, Any], name: str, required: bool, why: str) -> str | None:
    value = parts.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{OP}: manual.{name} must be a string", msg_id="MRTC-CC-006")
    if required:
        raise InvalidRequest(
            f"{OP}: manual.{name} is required ({why})",
            expression=(
                f"Parameters.parameter.where(name = 'manual').part.where(name = '{name}')",
            ),
            msg_id="MRTC-CC-006",
        )
    return None


async def manual_member(
    tx: Context, parts: dict[str, Any], role: Resource, patient: str
) -> Resource:
    professional = as_bool(parts.get("professional"), "manual.professional", OP)
    family = _text(parts, "family", True, "Nom")
    given = _text(parts, "given", True, "Prénom")
    phone = _text(parts, "phone", False, "")
    email = _text(parts, "email", False, "")
    telecom = [
        {"system": s, "value": v} for s, v in (("phone", phone), ("email", email)) if v is not None
    ]
    answers: list[Resource] = [{"url": "professional", "valueBoolean": professional}]
    participant: Resource = {"role": [{"coding": [role]}]}
    if professional:
        why = "les champs Nom, Prénom, Ville et Profession sont obligatoires"
        city = _text(parts, "city", True, why)
        profession = parts.get("profession")
        if not isinstance(profession, dict) or not profession.get("code"):
            raise InvalidRequest(
                f"{OP}: manual.profession (a Coding: TRE_G15, TRE_R95 or TRE_R85) is required "
                f"({why})",
                msg_id="MRTC-CC-006",
            )
        unit = _text(parts, "unit", True, "il faut absolument notifier son unité de rattachement")
        access = as_bool(parts.get("accessRequested"), "manual.accessRequested", OP)
        informed = as_bool(parts.get("informed"), "manual.informed", OP)
        remarks = _text(parts, "remarks", False, "")
        practitioner: Resource = {
            "resourceType": "Practitioner",
            "meta": {"profile": [MANUAL_PRACTITIONER]},
            "active": True,
            "name": [{"family": family, "given": [given]}],
            "address": [{"city": city}],
            "qualification": [{"code": {"coding": [profession]}}],
        }
        if telecom:
            practitioner["telecom"] = telecom
        pid = new_id()
        practitioner = await prepare(tx, "Practitioner", practitioner)
        await store(tx, "Practitioner", pid, practitioner, previous=None, method="POST")
        org_id = await _unit(tx, str(unit), str(city))
        answers += [
            {"url": "accessRequested", "valueBoolean": access},
            {"url": "informed", "valueBoolean": informed},
        ]
        if remarks:
            answers.append({"url": "remarks", "valueString": remarks})
        participant["member"] = {"reference": f"Practitioner/{pid}", "display": f"{family} {given}"}
        participant["onBehalfOf"] = {"reference": f"Organization/{org_id}", "display": unit}
    else:
        for name in ("accessRequested", "informed"):
            if as_bool(parts.get(name), f"manual.{name}", OP):
                raise InvalidRequest(
                    f"{OP}: manual.{name} is only asked of a professional (professional=true)",
                    msg_id="MRTC-CC-007",
                )
        if not telecom:
            raise InvalidRequest(
                f"{OP}: a family member needs manual.phone or manual.email", msg_id="MRTC-CC-006"
            )
        relationship = parts.get("relationship")
        if not isinstance(relationship, dict) or not relationship.get("code"):
            raise InvalidRequest(
                f"{OP}: a family member needs manual.relationship (a Coding, lien de parenté)",
                msg_id="MRTC-CC-006",
            )
        related: Resource = {
            "resourceType": "RelatedPerson",
            "active": True,
            "patient": {"reference": patient},
            "relationship": [{"coding": [relationship]}],
            "name": [{"family": family, "given": [given]}],
            "telecom": telecom,
        }
        rid = new_id()
        related = await prepare(tx, "RelatedPerson", related)
        await store(tx, "RelatedPerson", rid, related, previous=None, method="POST")
        participant["member"] = {
            "reference": f"RelatedPerson/{rid}",
            "display": f"{family} {given}",
        }
    participant["extension"] = [{"url": MANUAL_MEMBER, "extension": answers}]
    return participant


async def _unit(tx: Context, name: str, city: str) -> str:
    """The local Organization of a manual member's unit: reused by exact name, else created."""
    found = await _lookup(tx).find(
        "Organization", [("name:exact", name), ("address-city", city)], tx.scope, 1
    )
    if found:
        return found[0].id
    org_id = new_id()
    org = {
        "resourceType": "Organization",
        "active": True,
        "name": name,
        "address": [{"city": city}],
    }
    org = await prepare(tx, "Organization", org)
    await store(tx, "Organization", org_id, org, previous=None, method="POST")
    return org_id


# -- the operation -----------------------------------------------------------


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "CareTeam" and req.id is not None
    params = collect_parameters(
        query_params(req), body_resource(req), ("role", "directoryEntry", "member", "manual"), OP
    )
    role = role_coding(ctx, single(params, "role", OP), required=True)
    assert role is not None
    given = [n for n in ("directoryEntry", "member", "manual") if n in params]
    if len(given) != 1:
        raise InvalidRequest(
            f"{OP} takes exactly one of 'directoryEntry', 'member' or 'manual' "
            f"({', '.join(given) or 'none'} given)",
            msg_id="MRTC-CC-001",
        )
    parts = manual_parts(req) if given == ["manual"] else None
    entry = single(params, "directoryEntry", OP)
    member = single(params, "member", OP)
    await care_team(ctx, req.id)  # 404 before any work for who cannot see it

    async def run(tx: Context) -> Resource:
        current = await care_team(tx, req.id or "")
        team = current.resource
        participant: Resource = {"role": [{"coding": [role]}]}
        if entry is not None:
            type_, _, id_ = str(entry).rpartition("/")
            types = [type_] if type_ else ["PractitionerRole", "Organization"]
            found: tuple[str, Resource] | None = None
            for candidate in types:
                if candidate in ("PractitionerRole", "Organization"):
                    try:
                        found = await copy_entry(tx, candidate, id_)
                        break
                    except ResourceNotFound:
                        continue
            if found is None:
                raise ResourceNotFound(
                    f"'{entry}' is not a PractitionerRole or Organization of the directory",
                    msg_id="MRTC-DIR-020",
                )
            ref, source = found
            participant["member"] = {"reference": ref}
            if description := _description(source):
                participant["extension"] = description
        elif member is not None:
            ref = local(member)
            if ref.split("/")[0] not in MEMBER_TYPES or not ref.partition("/")[2]:
                raise InvalidRequest(
                    f"{OP}: 'member' must reference a {', '.join(MEMBER_TYPES)}",
                    msg_id="MRTC-CC-004",
                )
            await load_current(tx, *ref.split("/", 1))
            participant["member"] = {"reference": ref}
        else:
            assert parts is not None
            participant = await manual_member(tx, parts, role, local(team.get("subject")))
        updated, added = with_participants(tx, team, [participant])
        if not added:
            return dict(team)
        return await save_team(tx, current, updated)

    return Outcome(200, await in_transaction(ctx, run))


OPERATION = Operation(
    name="add-member",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"CareTeam"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
