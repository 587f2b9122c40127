"""$dashboard — GET/POST CarePlan/$dashboard (this server's operation).

ig/OperationDefinition-CarePlan-dashboard.json; the booklet's « tableau de
bord des parcours » (« Consulter les parcours », type de parcours MRTC): the
pathways the caller may see, filtered by pathway, status, structure,
assignee and next step before a date, one row each (``dashboard_rows``),
paged like a search.

Every read is a search of the caller, so the access policy's restriction is
compiled into each query exactly as for ``GET CarePlan?...`` (docs/security.md):
a pathway or a child the caller may not see never reaches a row. What a row
says of the pathway's steps is the pathway's summary, recorded beside the
CarePlan at every write of a step (``pathway.summary``, decision 0042), so a
page costs two queries whatever the number of pathways and steps:

1. one CarePlan search page: ``instantiates-canonical``, ``status``, the IG's
   ``author`` (structure), and the IG's derived ``step-owner`` (assignee of an
   open step) and ``next-step-date`` (before the date) parameters, all
   indexed, cursor-paged; the summaries come with the page;
2. one Patient query for the children's names (``_id`` $in).

A pathway without a current summary (none was recorded yet: the server
derives them at start) is summarised from its steps at read time, with one
more query for those pathways' Tasks.

Without any criterion the caller's default saved filter applies
(``saved_filters``): « créer le filtre de recherche et l'enregistrer par
défaut permet d'éviter de refaire cette sélection à chaque fois ».
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server import errors
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.search import parse
from fhir_server.operations import dashboard_rows as rows
from fhir_server.operations import pathway_context, saved_filters
from fhir_server.operations.parameters import (
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.pathway.summary import (
    NEXT_STEP_DATE,
    STEP_OWNER,
    SUMMARY_VERSION,
    PathwayModel,
    careplan_ids,
    reference_id,
    summarise,
)
from fhir_server.search.paging import Cursor, search_url
from fhir_server.search.request import Clause, Target
from fhir_server.storage.repository import StoredResource

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/CarePlan-dashboard"
OP = "$dashboard"
MRTC_PATHWAY = "https://mrtc.example.org/fhir/PlanDefinition/mrtc-pathway"
STATUS_VALUE_SET = "https://mrtc.example.org/fhir/ValueSet/mrtc-careplan-status"
DEFAULT_STATUSES = ("active", "on-hold")
CRITERIA = ("pathway", "status", "organization", "owner", "next-step-before")
KNOWN = (*CRITERIA, "filter", "_count", "_cursor")
OWNER_TYPES = ("Practitioner", "PractitionerRole", "Organization", "CareTeam")
# Upper bound of the steps read for a page whose summaries are missing (a page of pathways).
MAX_MATCHED_STEPS = 20_000
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")

MSG_BAD_CRITERION = "MRTC-DSH-001"


def _bad(message: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(f"{OP}: {message}", msg_id=MSG_BAD_CRITERION)


def _one(params: dict[str, list[Any]], name: str) -> str | None:
    value = single(params, name, OP)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"parameter '{name}' must be a non-empty string")
    return value.strip()


def _statuses(ctx: Context, values: list[Any]) -> list[str]:
    allowed = _status_codes(ctx)
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise _bad("parameter 'status' must be a code")
        for code in value.split(","):
            code = code.strip()
            if code not in allowed:
                raise _bad(f"unknown pathway status '{code}' (one of {', '.join(sorted(allowed))})")
            out.append(code)
    return list(dict.fromkeys(out)) or list(DEFAULT_STATUSES)


def _status_codes(ctx: Context) -> frozenset[str]:
    """The statuses of ``mrtc-careplan-status`` (the IG's binding of CarePlan.status)."""
    value_set = ctx.services.ig.by_url().get(STATUS_VALUE_SET) or {}
    codes = {
        concept["code"]
        for include in (value_set.get("compose") or {}).get("include", [])
        for concept in include.get("concept", [])
        if concept.get("code")
    }
    return frozenset(codes)


def _reference(value: str, name: str, types: tuple[str, ...]) -> str:
    type_, _, id_ = value.rpartition("/")
    if not type_ and len(types) == 1:
        type_ = types[0]
    if type_ not in types or not _ID.match(id_):
        raise _bad(f"parameter '{name}' must be {' or '.join(t + '/[id]' for t in types)}")
    return f"{type_}/{id_}"


class Criteria:
    """The dashboard's criteria, checked once (a bad one is a 400 naming it)."""

    def __init__(self, ctx: Context, params: dict[str, list[Any]]) -> None:
        self.pathway = _one(params, "pathway") or MRTC_PATHWAY
        self.statuses = _statuses(ctx, params.get("status", []))
        organization = _one(params, "organization")
        self.organization = (
            _reference(organization, "organization", ("Organization",)) if organization else None
        )
        owner = _one(params, "owner")
        self.owner = _reference(owner, "owner", OWNER_TYPES) if owner else None
        before = _one(params, "next-step-before")
        if before is not None and not _DATE.match(before):
            raise _bad("parameter 'next-step-before' must be a date (YYYY-MM-DD)")
        self.before = before

    def query(self) -> list[tuple[str, str]]:
        """The criteria as query items (links of the pages)."""
        items = [("pathway", self.pathway), ("status", ",".join(self.statuses))]
        if self.organization:
            items.append(("organization", self.organization))
        if self.owner:
            items.append(("owner", self.owner))
        if self.before:
            items.append(("next-step-before", self.before))
        return items


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    params = collect_parameters(query_params(req), body_resource(req), KNOWN, OP)
    count = as_int(single(params, "_count", OP), "_count", OP)
    cursor_text = _one(params, "_cursor")
    given = any(name in params for name in CRITERIA)
    saved = await saved_filters.choose(ctx, _one(params, "filter"), use_default=not given)
    if saved is not None:
        params = {**saved_filters.criteria(saved.resource or {}, CRITERIA), **params}
    criteria = Criteria(ctx, params)
    size = min(count if count is not None else ctx.settings.default_count, ctx.settings.max_count)

    # The most selective criteria first: among criteria of one kind the planner is given
    # them in this order, and an id window asks the database for the first equality only
    # (storage.paging._window_docs); every pathway instantiates the same template.
    items: list[tuple[str, str]] = []
    if criteria.owner:
        items.append((STEP_OWNER, criteria.owner))
    if criteria.organization:
        items.append(("author", criteria.organization))
    if criteria.before:
        items.append((NEXT_STEP_DATE, f"lt{criteria.before}"))
    items += [
        ("instantiates-canonical", criteria.pathway),
        ("status", ",".join(criteria.statuses)),
        ("_count", str(size)),
    ]
    if cursor_text:
        items.append(("_cursor", cursor_text))
    result = await ctx.services.repository.search(
        parse(ctx, "CarePlan", items, strict=True), ctx.scope
    )
    page = result.matches
    zone = ZoneInfo(ctx.settings.time_zone)
    today = datetime.now(zone).date()
    model = pathway_context.engine(ctx).summaries.model_of(criteria.pathway)
    children = sorted(
        {i for p in page if (i := reference_id((p.resource or {}).get("subject"), "Patient"))}
    )
    patients = await _patients_of(ctx, children)
    summaries = await _summaries(ctx, page, model, zone)
    out: list[dict[str, Any]] = []
    for plan in page:
        resource = plan.resource or {}
        subject = reference_id(resource.get("subject"), "Patient")
        out.append(
            rows.row(
                resource,
                summaries[plan.id],
                patients.get(subject) if subject else None,
                model,
                zone,
                today,
            )
        )
    if saved is not None:
        out.append({"name": "appliedFilter", "valueReference": {"reference": f"Basic/{saved.id}"}})
    links = [*criteria.query(), ("_count", str(size))]
    path = f"CarePlan/{OP}"
    current = Cursor.decode(cursor_text) if cursor_text else None
    out.append({"name": "self", "valueUri": search_url(ctx.base_url, path, links, current)})
    if result.next is not None:
        out.append({"name": "next", "valueUri": search_url(ctx.base_url, path, links, result.next)})
    if result.previous is not None:
        out.append(
            {"name": "previous", "valueUri": search_url(ctx.base_url, path, links, result.previous)}
        )
    return Outcome(200, {"resourceType": "Parameters", "parameter": out})


def _list_clause(ctx: Context, type_: str, code: str, values: list[str]) -> Clause:
    """``code=v1,v2,...`` for a list the server built (no ``FHIR_SEARCH_MAX_OR_VALUES``)."""
    param = None if code == "_id" else ctx.search_params.get(type_, code)
    return Clause(code, values, Target(type_, code, None, param))


async def _summaries(
    ctx: Context, page: list[StoredResource], model: PathwayModel, zone: ZoneInfo
) -> dict[str, dict[str, Any]]:
    """Each pathway's recorded summary; those without a current one, summarised from their steps.

    The steps are read in one query under the caller's restriction; naming the
    page's children (``patient``) as well lets the access policy see that the
    query stays inside records the caller may open, so it adds no further
    condition (``CareRestriction._implied``).
    """
    out = {
        p.id: p.derived
        for p in page
        if p.derived is not None and p.derived.get("v") == SUMMARY_VERSION
    }
    missing = [p for p in page if p.id not in out]
    if not missing:
        return out
    lists = [("based-on", [f"CarePlan/{p.id}" for p in missing])]
    children = [
        f"Patient/{i}"
        for p in missing
        if (i := reference_id((p.resource or {}).get("subject"), "Patient"))
    ]
    if children:
        lists.append(("patient", sorted(set(children))))
    clauses = [_list_clause(ctx, "Task", code, values) for code, values in lists]
    found = await ctx.services.repository.find(
        "Task", clauses, MAX_MATCHED_STEPS, ctx.scope, base_url=ctx.base_url
    )
    by_plan: dict[str, list[dict[str, Any]]] = {p.id: [] for p in missing}
    for task in found:
        for plan in careplan_ids(task.resource):
            if plan in by_plan and task.resource is not None:
                by_plan[plan].append(task.resource)
    for plan_id, steps in by_plan.items():
        out[plan_id] = summarise(steps, model, zone)[1]
    return out


async def _patients_of(ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The children of the page's pathways, by id (one query; the caller's restriction)."""
    if not ids:
        return {}
    clauses = [_list_clause(ctx, "Patient", "_id", ids)]
    found = await ctx.services.repository.find(
        "Patient", clauses, len(ids), ctx.scope, base_url=ctx.base_url
    )
    return {p.id: p.resource for p in found if p.resource is not None}


OPERATION = Operation(
    name="dashboard",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"CarePlan"}),
    type_level=True,
)
