"""$add-group — POST CareTeam/[id]/$add-group (this server's operation).

ig/OperationDefinition-CareTeam-add-group.json; the booklet's "groupes de
favoris": "pour faciliter l'ajout des intervenants dans le cercle de soins
d'un nouveau dossier". Every active member of the favourites Group joins the
care circle in one write, skipping those already in it; each gets ``role``
when given, else the role stored for it in the group
(``mrtc-group-member-role``). The group must be one the caller may use: a
public group, one it created, or one created by its structure ("les groupes
créés au niveau de la structure sont applicables à tout nouveau dossier");
another's private group is a 403. The CareTeam goes through the write
pipeline, so new members are notified as with ``$add-member``.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Forbidden, InvalidRequest
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.write import in_transaction
from fhir_server.operations.add_member import care_team, role_coding, save_team, with_participants
from fhir_server.operations.parameters import (
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.resources.care_circle import local
from fhir_server.resources.favourites import (
    MEMBER_ROLE,
    actor_refs,
    is_favourites,
    is_system,
    visibility,
)

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/CareTeam-add-group"
OP = "$add-group"


def may_use(principal: Any, group: dict[str, Any]) -> bool:
    if is_system(principal) or visibility(group) == "public":
        return True
    manager = local(group.get("managingEntity"))
    organizations = {f"Organization/{o}" for o in getattr(principal, "organizations", ())}
    return manager in actor_refs(principal) or manager in organizations


def stored_role(member: dict[str, Any]) -> Any:
    for ext in member.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == MEMBER_ROLE:
            return ext.get("valueCoding")
    return None


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "CareTeam" and req.id is not None
    params = collect_parameters(query_params(req), body_resource(req), ("group", "role"), OP)
    ref = local(single(params, "group", OP))
    if not ref.startswith("Group/") or not ref.partition("/")[2]:
        raise InvalidRequest(
            f"{OP}: 'group' (a Reference to a favourites Group) is required", msg_id="MRTC-CC-020"
        )
    role = role_coding(ctx, single(params, "role", OP), required=False)
    await care_team(ctx, req.id)  # 404 before any work for who cannot see it
    group = (await load_current(ctx, "Group", ref.partition("/")[2])).resource or {}
    if not is_favourites(group):
        raise InvalidRequest(f"{ref} is not a favourites group", msg_id="MRTC-CC-021")
    if not may_use(ctx.principal, group):
        raise Forbidden(
            f"{ref} is a private favourites group of someone else", msg_id="MRTC-CC-022"
        )
    participants = []
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        entity = local(member.get("entity"))
        if not entity:
            continue
        given = role or role_coding(ctx, stored_role(member), required=False)
        if given is None:
            raise InvalidRequest(
                f"{OP}: {entity} has no role stored in {ref}; give 'role'", msg_id="MRTC-CC-023"
            )
        participants.append({"role": [{"coding": [given]}], "member": {"reference": entity}})

    async def run(tx: Context) -> dict[str, Any]:
        current = await care_team(tx, req.id or "")
        updated, added = with_participants(tx, current.resource, participants)
        if not added:
            return dict(current.resource)
        return await save_team(tx, current, updated)

    return Outcome(200, await in_transaction(ctx, run))


OPERATION = Operation(
    name="add-group",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"CareTeam"}),
    instance=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
