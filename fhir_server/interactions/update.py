"""update — PUT [base]/[type]/[id], update-as-create, and conditional update.

https://hl7.org/fhir/R4/http.html#update and #cond-update. The body's id
must equal the URL's. A new id creates the resource (201), an existing one
gets the next version (200); ``If-Match`` makes the write conditional on the
current version (412 otherwise).
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import InvalidRequest, InvalidResource, MultipleMatches
from fhir_server.interactions.context import Context
from fhir_server.interactions.create import guarding_key
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.write import (
    check_if_match,
    in_transaction,
    new_id,
    parse_if_match,
    prepare,
    store,
)


def _check_body_id(type_: str, id_: str, body: Any) -> None:
    if not isinstance(body, dict):
        return  # prepare() reports the structural error
    body_id = body.get("id")
    if body_id is None:
        raise InvalidResource(
            f"The {type_} resource in an update must carry id '{id_}'",
            expression=(f"{type_}.id",),
            msg_id="MRTC-REST-060",
        )
    if body_id != id_:
        raise InvalidResource(
            f"The resource id '{body_id}' does not match the URL id '{id_}'",
            expression=(f"{type_}.id",),
            msg_id="MRTC-REST-061",
        )


async def update(
    ctx: Context, type_: str, id_: str, body: Any, *, if_match: str | None = None
) -> Outcome:
    _check_body_id(type_, id_, body)
    expected = parse_if_match(if_match)
    resource = await prepare(ctx, type_, body)
    advice = await ctx.services.hooks.advice(type_, resource, ctx.scope)

    async def run(tx: Context) -> Outcome:
        current = await tx.services.repository.read(type_, id_, tx.scope)
        check_if_match(type_, id_, expected, current)
        stored = await store(tx, type_, id_, resource, previous=current, method="PUT")
        created = current is None or current.deleted
        return Outcome(
            201 if created else 200, stored.resource, stored, location=created, issues=advice
        )

    return await in_transaction(ctx, run)


async def conditional_update(
    ctx: Context, type_: str, query: str, body: Any, *, if_match: str | None = None
) -> Outcome:
    if not query:
        raise InvalidRequest(
            "A conditional update needs search criteria: PUT [type]?[criteria]",
            msg_id="MRTC-REST-062",
        )
    expected = parse_if_match(if_match)
    resource = await prepare(ctx, type_, body)
    advice = await ctx.services.hooks.advice(type_, resource, ctx.scope)
    body_id = resource.get("id")
    new_id_ = body_id or new_id()
    key = guarding_key(ctx, type_, query, {**resource, "id": new_id_})

    async def run(tx: Context) -> Outcome:
        matches = await find_matches(tx, type_, query)
        if len(matches) > 1:
            raise MultipleMatches(
                f"Conditional update '{query}' matches {len(matches)} {type_} resources",
                msg_id="MRTC-REST-063",
            )
        if matches:
            current = matches[0]
            if body_id is not None and body_id != current.id:
                raise InvalidResource(
                    f"The resource id '{body_id}' does not match the matched resource "
                    f"{type_}/{current.id}",
                    expression=(f"{type_}.id",),
                    msg_id="MRTC-REST-064",
                )
            check_if_match(type_, current.id, expected, current)
            stored = await store(tx, type_, current.id, resource, previous=current, method="PUT")
            return Outcome(200, stored.resource, stored, issues=advice)
        previous = await tx.services.repository.read(type_, new_id_, tx.scope)
        check_if_match(type_, new_id_, expected, previous)
        stored = await store(
            tx,
            type_,
            new_id_,
            resource,
            previous=previous,
            method="PUT",
            condition_key=None if previous else key,
        )
        return Outcome(201, stored.resource, stored, location=True, issues=advice)

    return await in_transaction(ctx, run)
