"""vread — GET [base]/[type]/[id]/_history/[vid].

https://hl7.org/fhir/R4/http.html#vread. Any recorded version can be read;
the version that records a deletion answers 410.
"""

from __future__ import annotations

from fhir_server.errors import ResourceGone, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome


async def vread(ctx: Context, type_: str, id_: str, vid: int) -> Outcome:
    found = await ctx.services.repository.read_version(type_, id_, vid, ctx.scope)
    if found is None:
        raise ResourceNotFound(
            f"Version {vid} of {type_}/{id_} was not found", msg_id="MRTC-REST-022"
        )
    if found.deleted:
        raise ResourceGone(
            f"Version {vid} of {type_}/{id_} records its deletion",
            headers={"ETag": found.etag},
            msg_id="MRTC-REST-023",
        )
    return Outcome(200, found.resource, found)
