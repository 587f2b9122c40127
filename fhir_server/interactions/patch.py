"""patch — PATCH [base]/[type]/[id] with JSON Patch or JSON Merge Patch.

https://hl7.org/fhir/R4/http.html#patch. A JSON Patch (RFC 6902, an array of
operations, ``application/json-patch+json``) is the format the spec names; a
JSON Merge Patch (RFC 7386, a partial resource, ``application/merge-patch+json``
or a plain JSON object) is what several FHIR clients send (fhirpy's
``resource.patch(...)``). The patch is applied to the current version; the
result is validated like an update. A patch that cannot apply (failed
``test``, missing path) is 422; a malformed patch document is 400.
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
    ResourceNotFound,
    UnsupportedMediaType,
)
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.patch_document import check_document
from fhir_server.interactions.read import load_current
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.write import (
    check_if_match,
    in_transaction,
    parse_if_match,
    prepare,
    store,
)
from fhir_server.storage.repository import StoredResource

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PLAIN_JSON = ("application/json", "application/fhir+json")


class MergePatch:
    """RFC 7386: objects merge recursively, ``null`` removes, anything else replaces."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def apply(self, target: Any) -> Any:
        return _merge(target, self.document)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _compile(body: Any, content_type: str) -> jsonpatch.JsonPatch | MergePatch:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == MERGE_PATCH or (media in PLAIN_JSON and isinstance(body, dict)):
        if not isinstance(body, dict):
            raise InvalidRequest("A JSON Merge Patch must be an object", msg_id="MRTC-REST-076")
        return MergePatch(body)
    if media and media != JSON_PATCH and media not in PLAIN_JSON:
        raise UnsupportedMediaType(
            f"PATCH takes {JSON_PATCH} (JSON Patch) or {MERGE_PATCH}; "
            "FHIRPath Patch is not supported",
            msg_id="MRTC-REST-070",
        )
    try:
        return jsonpatch.JsonPatch(check_document(body))
    except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise InvalidRequest(f"Invalid JSON Patch: {exc}", msg_id="MRTC-REST-071") from None


def _apply(patch: jsonpatch.JsonPatch | MergePatch, current: StoredResource) -> dict[str, Any]:
    assert current.resource is not None
    try:
        result = patch.apply(copy.deepcopy(current.resource))
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        TypeError,
        KeyError,
        IndexError,
        ValueError,
    ) as exc:
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
    tx: Context,
    current: StoredResource,
    patch: jsonpatch.JsonPatch | MergePatch,
    expected: int | None,
) -> Outcome:
    check_if_match(current.type, current.id, expected, current)
    resource = await prepare(tx, current.type, _apply(patch, current))
    advice = await tx.services.hooks.advice(current.type, resource, tx.scope)
    stored = await store(tx, current.type, current.id, resource, previous=current, method="PATCH")
    return Outcome(200, stored.resource, stored, issues=advice)


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
        current = await load_current(tx, type_, id_)
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
