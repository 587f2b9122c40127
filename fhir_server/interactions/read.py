"""read — GET [base]/[type]/[id], with conditional read.

https://hl7.org/fhir/R4/http.html#read and #cread. Serves the stored JSON
as is. A deleted resource answers 410 (with its deletion version's ETag); an
``If-None-Match`` naming the current version, or an ``If-Modified-Since``
not older than ``lastUpdated``, answers 304. ``load_current`` is the one
"current version, or 404 / 410" every interaction and operation uses.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from fhir_server.errors import ResourceGone, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.storage.repository import StoredResource


async def read(
    ctx: Context,
    type_: str,
    id_: str,
    *,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> Outcome:
    current = await load_current(ctx, type_, id_)
    if if_none_match and if_none_match.strip() in (current.etag, f'"{current.version}"', "*"):
        return Outcome(304, stored=current)
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            since = None
        if since is not None and current.last_updated.replace(microsecond=0) <= since:
            return Outcome(304, stored=current)
    return Outcome(200, current.resource, current)


async def load_current(ctx: Context, type_: str, id_: str) -> StoredResource:
    """The current version as the caller may see it; 404 if none, 410 if deleted."""
    return require_live(type_, id_, await ctx.services.repository.read(type_, id_, ctx.scope))


def require_live(type_: str, id_: str, current: StoredResource | None) -> StoredResource:
    """``current`` itself, or the 404 / 410 a read of it answers."""
    if current is None:
        raise ResourceNotFound(f"Resource {type_}/{id_} was not found", msg_id="MRTC-REST-020")
    if current.deleted:
        raise ResourceGone(
            f"Resource {type_}/{id_} has been deleted",
            headers={"ETag": current.etag},
            msg_id="MRTC-REST-021",
        )
    return current


async def instance_resource(ctx: Context, req: FhirRequest) -> dict[str, Any] | None:
    """The resource an instance-level operation runs on (None at type or system level)."""
    if req.id is None or req.type is None:
        return None
    return (await load_current(ctx, req.type, req.id)).resource
