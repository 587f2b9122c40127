"""capabilities — GET [base]/metadata.

https://hl7.org/fhir/R4/http.html#capabilities. The CapabilityStatement is
derived from what serves requests: the interactions from the route table
(``interactions.routing``), the types, search parameters, operations and IG
profiles from their registries, so it states exactly what is implemented.
It is kept per server instance (``Services.capabilities``) and rebuilt when a
registry changes; its ``date`` is the date of the installed build.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fhir_server import FHIR_VERSION, __version__
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import ROUTES, TYPE
from fhir_server.resource_types import SUPPORTED_TYPES
from fhir_server.search.registry import capability_search_params

# Route-table interactions -> CapabilityStatement interaction codes (restful-interaction).
_TYPE_CODES = {
    "read": "read",
    "vread": "vread",
    "update": "update",
    "patch": "patch",
    "delete": "delete",
    "history-instance": "history-instance",
    "history-type": "history-type",
    "create": "create",
    "search-type": "search-type",
}
_SYSTEM_CODES = {
    "bundle": ("transaction", "batch"),
    "search-system": ("search-system",),
    "history-system": ("history-system",),
}


def _routed() -> tuple[list[str], list[str], set[str]]:
    """Type-level codes, system-level codes, and every interaction the route table serves."""
    served = {i for _, methods in ROUTES for i in methods.values()}
    type_level = {i for shape, methods in ROUTES if TYPE in shape for i in methods.values()}
    type_codes = [c for i, c in _TYPE_CODES.items() if i in type_level]
    system_codes = [c for i, codes in _SYSTEM_CODES.items() if i in served for c in codes]
    return type_codes, system_codes, served


@cache
def build_date() -> str:
    """When this build was installed: the newest file of the package (its code and data)."""
    root = Path(__file__).resolve().parent.parent
    newest = max(p.stat().st_mtime for p in root.rglob("*") if p.is_file())
    return datetime.fromtimestamp(newest, UTC).date().isoformat()


def _resource_entry(ctx: Context, type_: str, codes: list[str], served: set[str]) -> dict[str, Any]:
    services = ctx.services
    entry: dict[str, Any] = {
        "type": type_,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{type_}",
    }
    profiles = services.ig.profiles_by_type().get(type_)
    if profiles:
        entry["supportedProfile"] = profiles
    entry.update(
        {
            "interaction": [{"code": code} for code in codes],
            "versioning": "versioned-update",
            "readHistory": "vread" in served,
            "updateCreate": "update" in served,
            "conditionalCreate": "create" in served,
            "conditionalRead": "full-support",
            "conditionalUpdate": "conditional-update" in served,
            "conditionalDelete": "single" if "conditional-delete" in served else "not-supported",
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


def security(ctx: Context) -> dict[str, Any]:
    """``rest.security``: SMART on FHIR bearer tokens (docs/security.md)."""
    auth = ctx.settings.auth
    out: dict[str, Any] = {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 bearer JWT (RS256/ES256), SMART v1 and v2 scopes",
            }
        ],
        "description": (
            "Every request but /metadata, /.well-known/smart-configuration, "
            "/.well-known/jwks.json, /healthz and /readyz needs 'Authorization: Bearer <JWT>'. "
            "The caller is the Practitioner or PractitionerRole named by the fhirUser claim "
            "(or found by its RPPS identifier), or a trusted system (system/ scopes); it sees "
            "the records it is habilitated on through their care circles or break-glass, "
            "documents by the profession x category matrix of the IG. Refused reads answer "
            "404, refused writes 403. Discovery: "
            + ctx.base_url
            + "/.well-known/smart-configuration"
        ),
    }
    uris = [("authorize", auth.authorization_endpoint), ("token", auth.token_endpoint)]
    present = [{"url": name, "valueUri": value} for name, value in uris if value]
    if present:
        out["extension"] = [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": present,
            }
        ]
    return out


def build(ctx: Context) -> dict[str, Any]:
    """This server's CapabilityStatement (cached per instance until a registry changes)."""
    cache_ = ctx.services.capabilities
    key = f"{ctx.base_url}|{ctx.services.conformance_version()}"
    if cache_.statement is not None and cache_.key == key:
        return cache_.statement
    type_codes, system_codes, served = _routed()
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": build_date(),
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
        "implementationGuide": ctx.services.ig.guide_urls(),
        "rest": [
            {
                "mode": "server",
                "security": security(ctx),
                "resource": [_resource_entry(ctx, t, type_codes, served) for t in SUPPORTED_TYPES],
                "interaction": [{"code": code} for code in system_codes],
                "operation": ctx.services.operations.capability_entries(None),
            }
        ],
    }
    cache_.key, cache_.statement = key, statement
    return statement


async def capabilities(ctx: Context, params: list[tuple[str, str]]) -> Outcome:
    return Outcome(200, build(ctx))
