"""create — POST [base]/[type], with conditional create (If-None-Exist).

https://hl7.org/fhir/R4/http.html#create and #ccreate. The server assigns
the id. A conditional create returns the single existing match (200), fails
on several (412) and creates otherwise; a condition without criteria is
refused (400). Concurrent identical conditional creates yield exactly one
resource (see ``storage.mongo``): the created resource carries the
condition's key, but only while it meets the condition, so a resource that
never matched (or no longer matches) cannot lock later creates out.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import MultipleMatches
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.search import find_matches, parse_condition
from fhir_server.interactions.write import condition_key, in_transaction, new_id, prepare, store
from fhir_server.search.matching import resource_matches


async def create(
    ctx: Context,
    type_: str,
    body: Any,
    *,
    if_none_exist: str | None = None,
    assigned_id: str | None = None,
    condition_checked: bool = False,
) -> Outcome:
    """Create a resource; ``condition_checked``: a transaction already searched."""
    resource = await prepare(ctx, type_, body)
    advice = await ctx.services.hooks.advice(type_, resource, ctx.scope)
    condition = strip_type(type_, if_none_exist)
    id_ = assigned_id or new_id()
    key = guarding_key(ctx, type_, condition, {**resource, "id": id_})

    async def run(tx: Context) -> Outcome:
        if condition is not None and not condition_checked:
            existing = await find_existing(tx, type_, condition)
            if existing is not None:
                return existing
        stored = await store(
            tx, type_, id_, resource, previous=None, method="POST", condition_key=key
        )
        return Outcome(201, stored.resource, stored, location=True, issues=advice)

    return await in_transaction(ctx, run)


def strip_type(type_: str, condition: str | None) -> str | None:
    """``Patient?identifier=x`` (what some clients send) -> ``identifier=x``."""
    if condition is not None and condition.startswith(f"{type_}?"):
        return condition[len(type_) + 1 :]
    return condition


def guarding_key(
    ctx: Context, type_: str, condition: str | None, resource: dict[str, Any]
) -> str | None:
    """The race-free key of a conditional write, when the resource meets its condition.

    Parsing the condition here also refuses an empty or invalid one before
    anything is written.
    """
    if condition is None:
        return None
    clauses = parse_condition(ctx, type_, condition)
    matches = resource_matches(
        ctx.search_params, ctx.settings.search, resource, clauses, base_url=ctx.base_url
    )
    return condition_key(type_, condition) if matches else None


async def find_existing(ctx: Context, type_: str, condition: str) -> Outcome | None:
    """The conditional-create check: 200 with the one match, 412 on several, None if none."""
    matches = await find_matches(ctx, type_, condition)
    if len(matches) > 1:
        raise MultipleMatches(
            f"If-None-Exist '{condition}' matches {len(matches)} {type_} resources",
            msg_id="MRTC-REST-050",
        )
    if matches:
        return Outcome(200, matches[0].resource, matches[0])
    return None
