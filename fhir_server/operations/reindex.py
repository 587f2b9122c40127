"""$reindex — [base]/$reindex and [type]/$reindex (this server's operation).

Rebuilds the search index values (``idx``) of current resources after
search-parameter definitions changed, e.g. once a SearchParameter was
created at runtime: new writes are indexed with it at once, existing
resources only after a reindex. ``stale=true`` limits the work to documents
stamped with an older index version. Changes no resource content or version,
but writes, so it is POST only.
"""

from __future__ import annotations

from fhir_server.errors import InvalidRequest
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import parameters, query_params
from fhir_server.operations.registry import Operation

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/reindex"


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    params = query_params(req)
    unknown = set(params) - {"stale"}
    if unknown:
        raise InvalidRequest(
            f"$reindex does not take {', '.join(sorted(unknown))}", msg_id="MRTC-OP-201"
        )
    stale = params.get("stale", ["false"])[-1]
    if stale not in ("true", "false"):
        raise InvalidRequest("$reindex: stale must be true or false", msg_id="MRTC-OP-202")
    types = [req.type] if req.type else None
    count = await ctx.services.repository.reindex(types, stale_only=stale == "true")
    return Outcome(
        200,
        parameters(("reindexed", "valueInteger", count)),
    )


OPERATION = Operation(
    name="reindex",
    handler=handle,
    definition=DEFINITION,
    system=True,
    type_level=True,
    affects_state=True,
    methods=frozenset({"POST"}),
)
