"""``$validate``, ``ValueSet/$expand``, ``ValueSet/$validate-code``, ``CodeSystem/$lookup``.

Plain synchronous functions over already-parsed input - query parameters as
``dict[str, list[str]]`` and/or a ``Parameters`` body - returning FHIR JSON,
so the operations registry only adapts HTTP. Bad input raises the typed
errors of ``fhir_server.errors``.

Specs:
https://hl7.org/fhir/R4/resource-operation-validate.html,
https://hl7.org/fhir/R4/valueset-operation-expand.html,
https://hl7.org/fhir/R4/valueset-operation-validate-code.html,
https://hl7.org/fhir/R4/codesystem-operation-lookup.html.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fhir_server import errors
from fhir_server.errors import Issue
from fhir_server.profiles.validator import ProfileValidator
from fhir_server.terminology import TerminologyService

MSG_BAD_PARAMETER = "MRTC-OP-001"
MSG_NO_RESOURCE = "MRTC-OP-002"
MSG_TYPE_MISMATCH = "MRTC-OP-003"

QueryParams = Mapping[str, list[str]]
# Accepted everywhere: formatting parameters the API layer handles.
_GLOBAL = {"_format", "_pretty", "_summary", "_elements"}


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


def _single(params: dict[str, list[Any]], name: str, operation: str) -> Any:
    values = params.get(name, [])
    if len(values) > 1:
        raise errors.InvalidRequest(
            f"{operation}: parameter '{name}' may appear only once", msg_id=MSG_BAD_PARAMETER
        )
    return values[0] if values else None


def _int(value: Any, name: str, operation: str) -> int | None:
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


def _bool(value: Any, name: str, operation: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise errors.InvalidRequest(
        f"{operation}: parameter '{name}' must be true or false", msg_id=MSG_BAD_PARAMETER
    )


# -- $validate ------------------------------------------------------------------

VALIDATE_MODES = ("create", "update", "delete", "profile")


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome; a single informational issue when there is nothing to say."""
    if not issues:
        issues = [Issue("information", "informational", "No issues detected during validation")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def validate_operation(
    validator: ProfileValidator,
    resource_type: str,
    parameters_or_resource: dict[str, Any] | None,
    *,
    mode: str | None = None,
    profile: str | None = None,
    query: QueryParams | None = None,
    resource_id: str | None = None,
    enforced: Iterable[str] = (),
    structural: Callable[[dict[str, Any]], list[Issue]] | None = None,
) -> dict[str, Any]:
    """``[type]/$validate`` and ``[type]/[id]/$validate``: an OperationOutcome, nothing stored.

    The body is a ``Parameters`` (``resource``, ``mode``, ``profile``) or the
    resource itself (then ``mode``/``profile`` come from the keywords or the
    query). ``structural`` is the caller's base (strict JSON) validation, whose
    issues come first; ``enforced`` are the profiles the deployment enforces
    for this type (``EnforcementPolicy.profiles_for``). The answer is always an
    OperationOutcome to be returned with HTTP 200: errors in it describe the
    resource, not the request.
    """
    op = "$validate"
    body = parameters_or_resource
    resource: dict[str, Any] | None
    if (
        body is not None
        and body.get("resourceType") == "Parameters"
        and resource_type != ("Parameters")
    ):
        params = collect_parameters(query, body, ("resource", "mode", "profile"), op)
        resource = _single(params, "resource", op)
    else:
        params = collect_parameters(query, None, ("mode", "profile"), op)
        resource = body
    mode = mode or _single(params, "mode", op)
    profile = profile or _single(params, "profile", op)
    if mode is not None and mode not in VALIDATE_MODES:
        raise errors.InvalidRequest(
            f"$validate: mode must be one of {', '.join(VALIDATE_MODES)}, got {mode!r}",
            msg_id=MSG_BAD_PARAMETER,
        )
    if mode == "delete":
        # Nothing in a profile forbids a deletion; referential checks belong to the store.
        return operation_outcome([])
    if not isinstance(resource, dict):
        raise errors.InvalidRequest(
            "$validate needs a resource (the body, or the 'resource' parameter)",
            msg_id=MSG_NO_RESOURCE,
        )
    if resource.get("resourceType") != resource_type:
        raise errors.InvalidRequest(
            f"$validate on {resource_type} received a {resource.get('resourceType')}",
            msg_id=MSG_TYPE_MISMATCH,
        )
    issues: list[Issue] = []
    if mode == "update" and not resource.get("id"):
        issues.append(
            Issue(
                "error",
                "required",
                "An update needs the resource id",
                (f"{resource_type}.id",),
                MSG_BAD_PARAMETER,
            )
        )
    if resource_id is not None and resource.get("id") not in (None, resource_id):
        issues.append(
            Issue(
                "error",
                "invariant",
                f"The resource id {resource.get('id')} does not match the URL id {resource_id}",
                (f"{resource_type}.id",),
                MSG_TYPE_MISMATCH,
            )
        )
    if structural is not None:
        issues.extend(structural(resource))
    wanted = list(enforced)
    if profile:
        wanted.append(profile)
    issues.extend(validator.validate(resource, wanted))
    return operation_outcome(issues)


# -- terminology ------------------------------------------------------------------

EXPAND_PARAMS = (
    "url",
    "valueSet",
    "valueSetVersion",
    "filter",
    "count",
    "offset",
    "activeOnly",
    "includeDesignations",
    "displayLanguage",
    "context",
    "date",
    "excludeNested",
    "includeDefinition",
    "limitedExpansion",
)


def _value_set_arg(
    terminology: TerminologyService,
    params: dict[str, list[Any]],
    value_set: dict[str, Any] | None,
    op: str,
) -> str | dict[str, Any]:
    url = _single(params, "url", op)
    body_vs = _single(params, "valueSet", op)
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


def expand_operation(
    terminology: TerminologyService,
    params: QueryParams | None = None,
    body: dict[str, Any] | None = None,
    *,
    value_set: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``ValueSet/$expand`` (``value_set`` = the instance for ``ValueSet/[id]/$expand``)."""
    op = "$expand"
    p = collect_parameters(params, body, EXPAND_PARAMS, op)
    target = _value_set_arg(terminology, p, value_set, op)
    text = _single(p, "filter", op)
    return terminology.expand(
        target,
        text_filter=str(text) if text else None,
        count=_int(_single(p, "count", op), "count", op),
        offset=_int(_single(p, "offset", op), "offset", op) or 0,
        active_only=_bool(_single(p, "activeOnly", op), "activeOnly", op),
        include_designations=_bool(
            _single(p, "includeDesignations", op), "includeDesignations", op
        ),
    )


VALIDATE_CODE_PARAMS = (
    "url",
    "context",
    "valueSet",
    "valueSetVersion",
    "code",
    "system",
    "systemVersion",
    "display",
    "coding",
    "codeableConcept",
    "date",
    "abstract",
    "displayLanguage",
)


def validate_code_operation(
    terminology: TerminologyService,
    params: QueryParams | None = None,
    body: dict[str, Any] | None = None,
    *,
    value_set: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``ValueSet/$validate-code``: Parameters(result, message, display)."""
    op = "$validate-code"
    p = collect_parameters(params, body, VALIDATE_CODE_PARAMS, op)
    target = _value_set_arg(terminology, p, value_set, op)
    coding = _single(p, "coding", op)
    concept = _single(p, "codeableConcept", op)
    if coding is not None and not isinstance(coding, dict):
        raise errors.InvalidRequest(
            "$validate-code: 'coding' must be a Coding (use a Parameters body)",
            msg_id=MSG_BAD_PARAMETER,
        )
    if concept is not None and not isinstance(concept, dict):
        raise errors.InvalidRequest(
            "$validate-code: 'codeableConcept' must be a CodeableConcept (use a Parameters body)",
            msg_id=MSG_BAD_PARAMETER,
        )
    code = _single(p, "code", op)
    system = _single(p, "system", op)
    display = _single(p, "display", op)
    return terminology.validate_code(
        target,
        code=str(code) if code is not None else None,
        system=str(system) if system is not None else None,
        display=str(display) if display is not None else None,
        coding=coding,
        codeable_concept=concept,
    )


LOOKUP_PARAMS = ("code", "system", "version", "coding", "date", "displayLanguage", "property")


def lookup_operation(
    terminology: TerminologyService,
    params: QueryParams | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``CodeSystem/$lookup``: Parameters(name, version, display, designation, property)."""
    op = "$lookup"
    p = collect_parameters(params, body, LOOKUP_PARAMS, op)
    coding = _single(p, "coding", op)
    code = _single(p, "code", op)
    system = _single(p, "system", op)
    if isinstance(coding, dict):
        code, system = coding.get("code"), coding.get("system")
    if not code or not system:
        raise errors.InvalidRequest(
            "$lookup needs 'system' and 'code' (or a 'coding')", msg_id=MSG_BAD_PARAMETER
        )
    props = [str(v) for v in p.get("property", [])]
    return terminology.lookup(str(system), str(code), properties=props or None)
