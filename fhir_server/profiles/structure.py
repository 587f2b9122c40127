"""Base structural validation of request bodies with ``fhir.resources`` models.

The pydantic models know the shape of every R4 resource; this module turns
their errors into OperationOutcome issues whose ``expression`` is a FHIRPath
location (``Patient.name[0].given``), following the pydantic -> FHIR issue-type
table idea of fhirstarter. The stored and served JSON is the client's own
JSON (not the model's dump), so validation never rewrites data.
"""

from __future__ import annotations

from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from fhir_server.errors import InvalidResource, Issue
from fhir_server.resource_types import require_type

# pydantic error type -> FHIR issue type (http://hl7.org/fhir/issue-type)
PYDANTIC_TO_ISSUE: dict[str, str] = {
    "missing": "required",
    "extra_forbidden": "structure",
    "value_error": "value",
    "string_type": "value",
    "int_type": "value",
    "int_parsing": "value",
    "float_type": "value",
    "float_parsing": "value",
    "decimal_type": "value",
    "decimal_parsing": "value",
    "bool_type": "value",
    "bool_parsing": "value",
    "list_type": "structure",
    "dict_type": "structure",
    "model_type": "structure",
    "string_pattern_mismatch": "value",
    "string_too_long": "too-long",
}


def fhir_path(type_: str, loc: tuple[int | str, ...]) -> str:
    """``('name', 0, 'given')`` -> ``Patient.name[0].given``."""
    out = type_
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "__root__":
            out += f".{part}"
    return out


def check_structure(type_: str, body: Any) -> dict[str, Any]:
    """Check ``body`` is a valid ``type_`` resource and return it unchanged.

    Raises ``InvalidResource`` with one issue per structural problem.
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
    model = get_fhir_model_class(type_)
    try:
        model.model_validate(body)
    except pydantic.ValidationError as exc:
        issues = [
            Issue(
                severity="error",
                code=PYDANTIC_TO_ISSUE.get(err["type"], "invalid"),
                diagnostics=f"{fhir_path(type_, err['loc'])}: {err['msg']}",
                expression=(fhir_path(type_, err["loc"]),),
                msg_id="MRTC-REST-012",
            )
            for err in exc.errors()
        ]
        raise InvalidResource(
            f"The {type_} resource is invalid", issues=issues, msg_id="MRTC-REST-012"
        ) from None
    except (TypeError, ValueError) as exc:  # defensive: models may raise plain errors
        raise InvalidResource(
            f"The {type_} resource is invalid: {exc}", msg_id="MRTC-REST-012"
        ) from None
    return body
