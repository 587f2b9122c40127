"""$news-feed — GET Patient/[id]/$news-feed (this server's operation).

ig/OperationDefinition-Patient-news-feed.json; the booklet's "fil
d'actualité": what happened on a record, newest first — every create, update,
patch and delete of its resources, and every break-glass access with its
reason — read from the record's AuditEvents (``security.audit``) as a search
of the caller, so only a caller who can open the record sees its feed (404
otherwise, like a read). Reads are in the trail but not in the feed.
"""

from __future__ import annotations

from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.search import search
from fhir_server.operations.parameters import (
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.security.audit import INTERACTION_SYSTEM
from fhir_server.security.habilitation import AUDIT_SUBTYPE_SYSTEM, BREAK_GLASS

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Patient-news-feed"
OP = "$news-feed"
FEED_SUBTYPES = (
    *(f"{INTERACTION_SYSTEM}|{c}" for c in ("create", "update", "patch", "delete")),
    f"{AUDIT_SUBTYPE_SYSTEM}|{BREAK_GLASS}",
)


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "Patient" and req.id is not None
    params = collect_parameters(query_params(req), body_resource(req), ("_count",), OP)
    count = as_int(single(params, "_count", OP), "_count", OP)
    await load_current(ctx, "Patient", req.id)  # 404 unless the caller may open the record
    query = [
        ("patient", f"Patient/{req.id}"),
        ("subtype", ",".join(FEED_SUBTYPES)),
        ("_sort", "-date"),
    ]
    if count is not None:
        query.append(("_count", str(count)))
    return Outcome(200, await search(ctx, "AuditEvent", query))


OPERATION = Operation(
    name="news-feed",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    instance=True,
)
