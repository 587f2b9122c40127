"""$validate — [type]/$validate and [type]/[id]/$validate.

https://hl7.org/fhir/R4/resource-operation-validate.html. Checks a resource
(the body, or the ``resource`` parameter of a Parameters body) against the
base structure, the profiles it claims, the profiles the deployment enforces
and an optional ``profile`` parameter, and answers an OperationOutcome with
HTTP 200 — nothing is stored. At instance level without a body, the stored
current version is validated (read as the caller may read it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fhir_server import errors
from fhir_server.errors import FhirError, Issue, operation_outcome
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.parameters import (
    MSG_BAD_PARAMETER,
    MSG_NO_RESOURCE,
    MSG_TYPE_MISMATCH,
    QueryParams,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.profiles.structure import check_structure
from fhir_server.profiles.validator import ProfileValidator

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

VALIDATE_MODES = ("create", "update", "delete", "profile")


def _outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome; a single informational issue when there is nothing to say."""
    if not issues:
        issues = [Issue("information", "informational", "No issues detected during validation")]
    return operation_outcome(issues)


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
        resource = single(params, "resource", op)
    else:
        params = collect_parameters(query, None, ("mode", "profile"), op)
        resource = body
    mode = mode or single(params, "mode", op)
    profile = profile or single(params, "profile", op)
    if mode is not None and mode not in VALIDATE_MODES:
        raise errors.InvalidRequest(
            f"$validate: mode must be one of {', '.join(VALIDATE_MODES)}, got {mode!r}",
            msg_id=MSG_BAD_PARAMETER,
        )
    if mode == "delete":
        # Nothing in a profile forbids a deletion; referential checks belong to the store.
        return _outcome([])
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
    return _outcome(issues)


def _structural(type_: str, max_depth: int) -> Callable[[dict[str, Any]], list[Issue]]:
    def check(resource: dict[str, Any]) -> list[Issue]:
        try:
            check_structure(type_, resource, max_depth=max_depth)
        except FhirError as exc:
            return exc.outcome_issues()
        return []

    return check


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type is not None
    profiles = ctx.services.profiles
    body = body_resource(req)
    if body is None and req.id is not None:
        body = (await load_current(ctx, req.type, req.id)).resource
    enforced = profiles.policy.profiles_for(body) if isinstance(body, dict) else []
    outcome = validate_operation(
        profiles.validator,
        req.type,
        body,
        query=query_params(req),
        resource_id=req.id,
        enforced=enforced,
        structural=_structural(req.type, ctx.settings.max_depth),
    )
    return Outcome(200, outcome)


OPERATION = Operation(
    name="validate", handler=handle, definition=DEFINITION, type_level=True, instance=True
)
