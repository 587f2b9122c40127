"""patch — PATCH [base]/[type]/[id] with a JSON Patch (RFC 6902) document.

https://hl7.org/fhir/R4/http.html#patch. The patch is applied to the current
version; the result is validated like an update. A patch that cannot apply
(failed ``test``, missing path) is 422; a malformed patch document is 400.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from fhir_server.errors import (
    InvalidRequest,
    InvalidResource,
    MultipleMatches,
    PatchFailed,
    ResourceGone,
    ResourceNotFound,
    UnsupportedMediaType,
)
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.write import (
    check_if_match,
    in_transaction,
    parse_if_match,
    prepare,
    store,
)
from fhir_server.storage.documents import StoredResource

JSON_PATCH = "application/json-patch+json"


def _compile(body: Any, content_type: str) -> jsonpatch.JsonPatch:
    if content_type and JSON_PATCH not in content_type:
        raise UnsupportedMediaType(
            f"PATCH takes {JSON_PATCH} (JSON Patch); FHIRPath Patch is not supported",
            msg_id="MRTC-REST-070",
        )
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise InvalidRequest(
            "A JSON Patch document must be an array of operation objects",
            msg_id="MRTC-REST-071",
        )
    try:
        return jsonpatch.JsonPatch(body)
    except (jsonpatch.InvalidJsonPatch, TypeError, KeyError) as exc:
        raise InvalidRequest(f"Invalid JSON Patch: {exc}", msg_id="MRTC-REST-071") from None


def _apply(patch: jsonpatch.JsonPatch, current: StoredResource) -> dict[str, Any]:
    assert current.resource is not None
    try:
        result = patch.apply(copy.deepcopy(current.resource))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise PatchFailed(
            f"The patch could not be applied to {current.type}/{current.id}: {exc}",
            msg_id="MRTC-REST-072",
        ) from None
    if not isinstance(result, dict):
        raise PatchFailed("The patch must leave a resource object", msg_id="MRTC-REST-072")
    if result.get("id") != current.id or result.get("resourceType") != current.type:
        raise InvalidResource(
            "A patch may not change a resource's id or resourceType",
            expression=(f"{current.type}.id",),
            msg_id="MRTC-REST-073",
        )
    return result


async def _patch_current(
    tx: Context, current: StoredResource, patch: jsonpatch.JsonPatch, expected: int | None
) -> Outcome:
    check_if_match(current.type, current.id, expected, current)
    resource = await prepare(tx, current.type, _apply(patch, current))
    stored = await store(tx, current.type, current.id, resource, previous=current, method="PATCH")
    return Outcome(200, stored.resource, stored)


async def patch(
    ctx: Context,
    type_: str,
    id_: str,
    body: Any,
    *,
    content_type: str = JSON_PATCH,
    if_match: str | None = None,
) -> Outcome:
    compiled = _compile(body, content_type)
    expected = parse_if_match(if_match)

    async def run(tx: Context) -> Outcome:
        current = await tx.services.repository.get(type_, id_, tx.session)
        if current is None:
            raise ResourceNotFound(f"Resource {type_}/{id_} was not found", msg_id="MRTC-REST-020")
        if current.deleted:
            raise ResourceGone(f"Resource {type_}/{id_} has been deleted", msg_id="MRTC-REST-021")
        return await _patch_current(tx, current, compiled, expected)

    return await in_transaction(ctx, run)


async def conditional_patch(
    ctx: Context,
    type_: str,
    query: str,
    body: Any,
    *,
    content_type: str = JSON_PATCH,
    if_match: str | None = None,
) -> Outcome:
    compiled = _compile(body, content_type)
    expected = parse_if_match(if_match)

    async def run(tx: Context) -> Outcome:
        matches = await find_matches(tx, type_, query)
        if not matches:
            raise ResourceNotFound(
                f"Conditional patch '{query}' matches no {type_}", msg_id="MRTC-REST-074"
            )
        if len(matches) > 1:
            raise MultipleMatches(
                f"Conditional patch '{query}' matches {len(matches)} {type_} resources",
                msg_id="MRTC-REST-075",
            )
        return await _patch_current(tx, matches[0], compiled, expected)

    return await in_transaction(ctx, run)
