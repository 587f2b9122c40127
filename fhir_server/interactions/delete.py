"""delete — DELETE [base]/[type]/[id], and conditional delete.

https://hl7.org/fhir/R4/http.html#delete. Deletion is logical: a new version
marked deleted is recorded in history and a later read answers 410. Deleting
an already deleted resource changes nothing (204); a resource that never
existed is 404. Conditional delete handles a single match (412 on several).
"""

from __future__ import annotations

from fhir_server.errors import MultipleMatches, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.write import check_if_match, in_transaction, parse_if_match, store


async def delete(ctx: Context, type_: str, id_: str, *, if_match: str | None = None) -> Outcome:
    expected = parse_if_match(if_match)

    async def run(tx: Context) -> Outcome:
        current = await tx.services.repository.read(type_, id_, tx.scope)
        if current is None:
            raise ResourceNotFound(f"Resource {type_}/{id_} was not found", msg_id="MRTC-REST-020")
        if current.deleted:
            return Outcome(204, stored=current)
        check_if_match(type_, id_, expected, current)
        stored = await store(tx, type_, id_, None, previous=current, method="DELETE")
        return Outcome(204, stored=stored)

    return await in_transaction(ctx, run)


async def conditional_delete(ctx: Context, type_: str, query: str) -> Outcome:
    async def run(tx: Context) -> Outcome:
        matches = await find_matches(tx, type_, query)
        if len(matches) > 1:
            raise MultipleMatches(
                f"Conditional delete '{query}' matches {len(matches)} {type_} resources",
                msg_id="MRTC-REST-080",
            )
        if not matches:
            return Outcome(204)
        stored = await store(tx, type_, matches[0].id, None, previous=matches[0], method="DELETE")
        return Outcome(204, stored=stored)

    return await in_transaction(ctx, run)
