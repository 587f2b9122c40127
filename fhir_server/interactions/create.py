"""create — POST [base]/[type], with conditional create (If-None-Exist).

https://hl7.org/fhir/R4/http.html#create and #ccreate. The server assigns
the id. A conditional create returns the single existing match (200), fails
on several (412) and creates otherwise; concurrent identical conditional
creates yield exactly one resource (see ``storage.mongo``).
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import MultipleMatches
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.write import condition_key, in_transaction, new_id, prepare, store


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
    if if_none_exist and if_none_exist.startswith(f"{type_}?"):
        if_none_exist = if_none_exist[len(type_) + 1 :]  # some clients send the full query

    async def run(tx: Context) -> Outcome:
        key = None
        if if_none_exist and not condition_checked:
            existing = await find_existing(tx, type_, if_none_exist)
            if existing is not None:
                return existing
        if if_none_exist:
            key = condition_key(type_, if_none_exist)
        stored = await store(
            tx,
            type_,
            assigned_id or new_id(),
            resource,
            previous=None,
            method="POST",
            condition_key=key,
        )
        return Outcome(201, stored.resource, stored, location=True)

    return await in_transaction(ctx, run)


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
