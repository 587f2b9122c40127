"""$dashboard — GET/POST CarePlan/$dashboard (this server's operation).

ig/OperationDefinition-CarePlan-dashboard.json; the booklet's « tableau de
bord des parcours » (« Consulter les parcours », type de parcours MRTC): the
pathways the caller may see, filtered by pathway, status, structure,
assignee and next step before a date, one row each (``dashboard_rows``),
paged like a search.

Every read is a search of the caller, so the access policy's restriction is
compiled into each query exactly as for ``GET CarePlan?...`` (docs/security.md):
a pathway, a step or a child the caller may not see never reaches a row.
A page costs a bounded number of queries, whatever its size (decision 0036):

1. when the assignee or next-step criterion is given, one Task query for the
   pathways that have such a step (``owner`` + open status; open status +
   ``scheduled`` before the date), on indexed fields;
2. one CarePlan search page (``instantiates-canonical``, ``status``, the
   IG's ``author`` parameter, those pathways' ids), cursor-paged;
3. one Task query for the steps of the page's pathways (``based-on`` $in);
4. one Patient query for the children's names (``_id`` $in).

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
from fhir_server.operations import saved_filters
from fhir_server.operations.parameters import (
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
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
# Upper bound of the steps one criterion query may return (the Task sub-query of step 1):
# far above a region's open steps; a query reaching it is refused rather than truncated.
MAX_MATCHED_STEPS = 200_000
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")

MSG_BAD_CRITERION = "MRTC-DSH-001"
MSG_TOO_MANY = "MRTC-DSH-002"


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

    pathway_ids = await _pathways_with_steps(ctx, criteria)
    page: list[StoredResource] = []
    next_cursor: Cursor | None = None
    previous_cursor: Cursor | None = None
    if pathway_ids is None or pathway_ids:
        items = [
            ("instantiates-canonical", criteria.pathway),
            ("status", ",".join(criteria.statuses)),
            ("_count", str(size)),
        ]
        if criteria.organization:
            items.append(("author", criteria.organization))
        if cursor_text:
            items.append(("_cursor", cursor_text))
        search = parse(ctx, "CarePlan", items, strict=True)
        if pathway_ids is not None:
            search.clauses.append(_list_clause(ctx, "CarePlan", "_id", sorted(pathway_ids)))
        result = await ctx.services.repository.search(search, ctx.scope)
        page, next_cursor, previous_cursor = result.matches, result.next, result.previous

    zone = ZoneInfo(ctx.settings.time_zone)
    today = datetime.now(zone).date()
    model = rows.PathwayModel.from_ig(ctx.services.ig, criteria.pathway)
    children = sorted(
        {i for p in page if (i := rows.reference_id((p.resource or {}).get("subject"), "Patient"))}
    )
    patients = await _patients_of(ctx, children)
    tasks = await _steps_of(ctx, [p.id for p in page], children)
    out: list[dict[str, Any]] = []
    for plan in page:
        resource = plan.resource or {}
        subject = rows.reference_id(resource.get("subject"), "Patient")
        out.append(
            rows.row(
                resource,
                tasks.get(plan.id, []),
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
    if next_cursor is not None:
        out.append({"name": "next", "valueUri": search_url(ctx.base_url, path, links, next_cursor)})
    if previous_cursor is not None:
        out.append(
            {"name": "previous", "valueUri": search_url(ctx.base_url, path, links, previous_cursor)}
        )
    return Outcome(200, {"resourceType": "Parameters", "parameter": out})


def _list_clause(ctx: Context, type_: str, code: str, values: list[str]) -> Clause:
    """``code=v1,v2,...`` for a list the server built (no ``FHIR_SEARCH_MAX_OR_VALUES``)."""
    param = None if code == "_id" else ctx.search_params.get(type_, code)
    return Clause(code, values, Target(type_, code, None, param))


async def _find_tasks(
    ctx: Context, query: list[tuple[str, str]], *lists: tuple[str, list[str]]
) -> list[dict[str, Any]]:
    clauses = parse(ctx, "Task", query, strict=True).clauses
    clauses += [_list_clause(ctx, "Task", code, values) for code, values in lists]
    found = await ctx.services.repository.find(
        "Task", clauses, MAX_MATCHED_STEPS + 1, ctx.scope, base_url=ctx.base_url
    )
    if len(found) > MAX_MATCHED_STEPS:
        raise errors.TooCostly(
            f"{OP}: more than {MAX_MATCHED_STEPS} steps match; narrow the criteria",
            msg_id=MSG_TOO_MANY,
        )
    return [t.resource for t in found if t.resource is not None]


async def _pathways_with_steps(ctx: Context, criteria: Criteria) -> set[str] | None:
    """The pathways having the steps the criteria ask for; None when no criterion asks."""
    open_steps = ",".join(rows.OPEN_STATUSES)
    found: set[str] | None = None
    if criteria.owner:
        tasks = await _find_tasks(ctx, [("owner", criteria.owner), ("status", open_steps)])
        found = set(rows.careplan_ids(tasks))
    if criteria.before and found != set():
        query = [("status", open_steps), ("scheduled", f"lt{criteria.before}")]
        lists = []
        if found is not None:
            lists.append(("based-on", [f"CarePlan/{i}" for i in sorted(found)]))
        tasks = await _find_tasks(ctx, query, *lists)
        found = set(rows.careplan_ids(tasks))
    return found


async def _steps_of(
    ctx: Context, careplans: list[str], patients: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The Tasks of the page's pathways, by pathway (one query).

    A step is the child's (``Task.for``, the pathway's subject: mrtc-task). Naming
    the page's children (``patient``) as well lets the access policy see
    that the query stays inside records the caller may open, so it adds no
    further condition (``CareRestriction._implied``).
    """
    if not careplans:
        return {}
    lists = [("based-on", [f"CarePlan/{i}" for i in careplans])]
    if patients:
        lists.append(("patient", [f"Patient/{i}" for i in patients]))
    by_plan: dict[str, list[dict[str, Any]]] = {}
    for task in await _find_tasks(ctx, [], *lists):
        for plan in rows.careplan_ids([task]):
            by_plan.setdefault(plan, []).append(task)
    return by_plan


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
