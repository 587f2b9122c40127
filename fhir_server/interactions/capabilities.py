"""capabilities — GET [base]/metadata.

https://hl7.org/fhir/R4/http.html#capabilities. The CapabilityStatement is
built from the same registries that serve requests (supported types, search
parameters, operations, IG profiles), so it states exactly what is
implemented. It is cached until one of those registries changes.
"""

from __future__ import annotations

from typing import Any

from fhir_server import FHIR_VERSION, __version__
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.resources.types import SUPPORTED_TYPES
from fhir_server.search.registry import capability_search_params

TYPE_INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
SYSTEM_INTERACTIONS = ["transaction", "batch", "search-system", "history-system"]

_cache: dict[str, Any] = {}


def _resource_entry(ctx: Context, type_: str) -> dict[str, Any]:
    services = ctx.services
    entry: dict[str, Any] = {
        "type": type_,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{type_}",
    }
    profiles = services.supported_profiles(type_)
    if profiles:
        entry["supportedProfile"] = profiles
    entry.update(
        {
            "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal", "local"],
        }
    )
    params = capability_search_params(ctx.search_params, type_)
    if params:
        entry["searchParam"] = params
    ops = services.operations.capability_entries(type_)
    if ops:
        entry["operation"] = ops
    return entry


def build(ctx: Context) -> dict[str, Any]:
    key = f"{ctx.base_url}|{ctx.services.conformance_version()}"
    cached = _cache.get(key)
    if cached is not None:
        return cached
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "publisher": "MRTC coordination FHIR server project",
        "kind": "instance",
        "software": {"name": "mrtc-fhir-server", "version": __version__},
        "implementation": {
            "description": "MRTC regional care-coordination FHIR server",
            "url": ctx.base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json"],
        "implementationGuide": ctx.services.implementation_guides(),
        "rest": [
            {
                "mode": "server",
                "resource": [_resource_entry(ctx, t) for t in SUPPORTED_TYPES],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": ctx.services.operations.capability_entries(None),
            }
        ],
    }
    _cache.clear()
    _cache[key] = statement
    return statement


async def capabilities(ctx: Context, params: list[tuple[str, str]]) -> Outcome:
    return Outcome(200, build(ctx))
