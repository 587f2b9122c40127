"""Operation inputs: query parameters grouped by name, and the POST body."""

from __future__ import annotations

from typing import Any

from fhir_server.interactions.routing import FhirRequest


def query_params(req: FhirRequest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in req.params:
        out.setdefault(name, []).append(value)
    return out


def body_resource(req: FhirRequest) -> dict[str, Any] | None:
    return req.body if isinstance(req.body, dict) else None
