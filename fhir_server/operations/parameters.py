"""Operation inputs and outputs: query parameters and Parameters bodies, one way.

https://hl7.org/fhir/R4/operations.html#request. An operation's inputs come
from the query string, a ``Parameters`` body, or both; ``collect_parameters``
merges them into name -> values (each value keeping its FHIR type) and
refuses names the operation does not declare. ``single``, ``as_int`` and
``as_bool`` read one value with a clear error; ``parameters`` builds the
``Parameters`` resource an operation answers with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fhir_server import errors
from fhir_server.interactions.routing import FhirRequest

MSG_BAD_PARAMETER = "MRTC-OP-001"
MSG_NO_RESOURCE = "MRTC-OP-002"
MSG_TYPE_MISMATCH = "MRTC-OP-003"

QueryParams = Mapping[str, list[str]]
# Accepted everywhere: formatting parameters the API layer handles.
_GLOBAL = {"_format", "_pretty", "_summary", "_elements"}


def query_params(req: FhirRequest) -> dict[str, list[str]]:
    """The request's query parameters grouped by name."""
    out: dict[str, list[str]] = {}
    for name, value in req.params:
        out.setdefault(name, []).append(value)
    return out


def body_resource(req: FhirRequest) -> dict[str, Any] | None:
    """The request body when it is a resource (a Parameters or the resource itself)."""
    return req.body if isinstance(req.body, dict) else None


def collect_parameters(
    query: QueryParams | None,
    body: dict[str, Any] | None,
    known: Iterable[str],
    operation: str,
) -> dict[str, list[Any]]:
    """Merge query parameters and a Parameters body into name -> values.

    Body values keep their FHIR type (``valueCoding`` stays a dict, ``resource``
    a resource). An unknown parameter is reported, never silently ignored.
    """
    allowed = set(known)
    out: dict[str, list[Any]] = {}
    for name, values in (query or {}).items():
        if name in _GLOBAL:
            continue
        if name not in allowed:
            raise errors.UnsupportedParameter(
                f"Parameter '{name}' is not supported by {operation}", msg_id=MSG_BAD_PARAMETER
            )
        out.setdefault(name, []).extend(values)
    if body is not None:
        if body.get("resourceType") != "Parameters":
            raise errors.InvalidRequest(
                f"{operation} expects a Parameters resource as body", msg_id=MSG_BAD_PARAMETER
            )
        for param in body.get("parameter", []):
            name = param.get("name")
            if name not in allowed:
                raise errors.UnsupportedParameter(
                    f"Parameter '{name}' is not supported by {operation}",
                    msg_id=MSG_BAD_PARAMETER,
                )
            value: Any = param.get("resource")
            if value is None:
                value = next((v for k, v in param.items() if k.startswith("value")), None)
            out.setdefault(name, []).append(value)
    return out


def single(params: dict[str, list[Any]], name: str, operation: str) -> Any:
    values = params.get(name, [])
    if len(values) > 1:
        raise errors.InvalidRequest(
            f"{operation}: parameter '{name}' may appear only once", msg_id=MSG_BAD_PARAMETER
        )
    return values[0] if values else None


def as_int(value: Any, name: str, operation: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise errors.InvalidRequest(
            f"{operation}: parameter '{name}' must be an integer, got {value!r}",
            msg_id=MSG_BAD_PARAMETER,
        ) from None
    if number < 0:
        raise errors.InvalidRequest(
            f"{operation}: parameter '{name}' must not be negative", msg_id=MSG_BAD_PARAMETER
        )
    return number


def as_bool(value: Any, name: str, operation: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise errors.InvalidRequest(
        f"{operation}: parameter '{name}' must be true or false", msg_id=MSG_BAD_PARAMETER
    )


def value_set_argument(
    params: dict[str, list[Any]],
    value_set: dict[str, Any] | None,
    op: str,
) -> str | dict[str, Any]:
    """The value set a terminology operation works on: the instance, a body ValueSet, a url."""
    url = single(params, "url", op)
    body_vs = single(params, "valueSet", op)
    if value_set is not None:
        return value_set
    if isinstance(body_vs, dict):
        return body_vs
    if isinstance(url, str) and url:
        return url
    raise errors.InvalidRequest(
        f"{op} needs a value set: 'url', a 'valueSet' resource or an instance-level call",
        msg_id=MSG_BAD_PARAMETER,
    )


def parameters(*items: tuple[str, str, Any]) -> dict[str, Any]:
    """A ``Parameters`` resource from (name, value[x] key or ``resource``, value) triples."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name, key: value} for name, key, value in items],
    }
