"""Base structural validation of request bodies: strict R4 JSON.

Every resource a client sends is checked against the R4 JSON rules by
``profiles/strict_json.py`` (element tables from the core
StructureDefinitions): types exactly as the JSON format states them, the
primitive regexes, cardinality, choices, no nulls or empty values, no
unknown elements. Its issues carry FHIRPath locations
(``Patient.name[0].given``). The stored and served JSON is the client's own
JSON (not a model's dump), so validation never rewrites data; it is exactly
the JSON that was checked. The ``fhir.resources`` models used before coerced
in lax mode (``"active": "yes"`` passed) and ignore pydantic's strict mode;
docs/decisions/0013-strict-fhir-json.md.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import InvalidResource
from fhir_server.profiles.strict_json import MSG_STRUCTURE, check_resource
from fhir_server.resource_types import require_type


def check_structure(type_: str, body: Any, *, max_depth: int | None = None) -> dict[str, Any]:
    """Check ``body`` is a valid ``type_`` resource and return it unchanged.

    Raises ``InvalidResource`` with one issue per structural problem.
    ``max_depth`` (``FHIR_MAX_DEPTH``) matters for JSON the request body did not
    bound by itself, such as a patched resource.
    """
    require_type(type_)
    if not isinstance(body, dict):
        raise InvalidResource(
            "The request body must be a JSON object holding a FHIR resource",
            msg_id="MRTC-REST-010",
        )
    declared = body.get("resourceType")
    if declared != type_:
        raise InvalidResource(
            f"resourceType '{declared}' does not match the expected type '{type_}'",
            expression=(f"{type_}.resourceType",),
            msg_id="MRTC-REST-011",
        )
    issues = check_resource(body, type_, max_depth)
    if issues:
        raise InvalidResource(
            f"The {type_} resource is invalid", issues=issues, msg_id=MSG_STRUCTURE
        )
    return body
