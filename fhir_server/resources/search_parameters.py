"""SearchParameter resources written over REST become live search parameters.

A SearchParameter created or updated at runtime is checked (its FHRPath
expression is parsed strictly, so a typo is a 400 rather than a parameter
that silently indexes nothing) and added to the registry; new writes are
indexed with it at once, existing resources after ``$reindex``. At start-up
the stored ones are loaded again, after the base and IG definitions.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import FhirError, InvalidResource


async def register_on_write(ctx: Any, type_: str, resource: dict[str, Any]) -> dict[str, Any]:
    """Write hook for SearchParameter: validate, register, create the indexes it needs."""
    from fhir_server.storage.search_query import ensure_search_indexes

    if resource.get("status") == "retired":
        return resource
    try:
        types = ctx.search_params.add(resource)
    except FhirError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidResource(
            f"SearchParameter cannot be used for search: {exc}",
            expression=("SearchParameter.expression",),
            msg_id="MRTC-SRCH-090",
        ) from None
    await ensure_search_indexes(ctx.db, ctx.search_params, types)
    return resource


async def load_stored(services: Any) -> int:
    """Register the SearchParameters stored in the database (runtime-created ones)."""
    n = 0
    async for doc in services.db["SearchParameter"].find({"del": {"$ne": True}}, {"res": 1}):
        resource = doc.get("res")
        if resource and resource.get("status") != "retired":
            try:
                services.search_params.add(resource)
                n += 1
            except (FhirError, ValueError, KeyError, TypeError):
                continue  # was valid when written; an engine change may refuse it now
    return n
