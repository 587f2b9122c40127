"""$extract — QuestionnaireResponse/[id]/$extract and QuestionnaireResponse/$extract.

SDC observation-based extraction
(https://hl7.org/fhir/uv/sdc/OperationDefinition-QuestionnaireResponse-extract.html),
as published by the IG's ``OperationDefinition/QuestionnaireResponse-extract``.
At instance level the stored response is extracted; at type level the response
is the body itself or the ``questionnaire-response`` parameter of a Parameters
body. The extraction (``fhir_server.operations.sdc``) returns a
transaction Bundle of conditional PUTs; nothing is stored here — the client
(or a later pathway step) POSTs that Bundle to ``[base]``.

Output, per the OperationDefinition's two out parameters: the Bundle itself
when there is nothing to report (FHIR's single-``return`` rule), otherwise a
Parameters with ``return`` (the Bundle) and ``issues`` (an OperationOutcome of
warnings and information). Each extracted Observation is checked here against
its profile (and the profiles the deployment enforces) exactly as the later
write will check it, so a Bundle that would be refused on POST is refused now,
with HTTP 422 naming the entry — a caller never holds a Bundle it cannot submit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fhir_server.errors import InvalidRequest, Issue, ProfileViolation, operation_outcome
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.search import find_matches
from fhir_server.operations import sdc as qx
from fhir_server.operations.parameters import body_resource, collect_parameters, query_params
from fhir_server.operations.registry import Operation

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/QuestionnaireResponse-extract"
PARAMETER = "questionnaire-response"
MSG_BAD_INPUT = qx.MSG_NOT_A_RESPONSE
MSG_UNKNOWN_QUESTIONNAIRE = qx.MSG_OTHER_QUESTIONNAIRE
MSG_INVALID_OBSERVATION = "MRTC-EXT-030"


def _type_level_response(req: FhirRequest) -> dict[str, Any]:
    body = body_resource(req)
    if body is not None and body.get("resourceType") == "QuestionnaireResponse":
        collect_parameters(query_params(req), None, (), "$extract")
        return body
    params = collect_parameters(query_params(req), body, (PARAMETER,), "$extract")
    given = params.get(PARAMETER, [])
    if len(given) != 1 or not isinstance(given[0], dict):
        raise InvalidRequest(
            "QuestionnaireResponse/$extract needs one QuestionnaireResponse: the body, or the "
            f"'{PARAMETER}' parameter of a Parameters body",
            msg_id=MSG_BAD_INPUT,
        )
    return given[0]


async def _response(ctx: Context, req: FhirRequest) -> dict[str, Any]:
    if req.id is None:
        response = _type_level_response(req)
    else:
        if body_resource(req) is not None:
            raise InvalidRequest(
                "QuestionnaireResponse/[id]/$extract extracts the stored response and takes "
                f"no body; use QuestionnaireResponse/$extract with '{PARAMETER}' instead",
                msg_id=MSG_BAD_INPUT,
            )
        collect_parameters(query_params(req), None, (), "$extract")
        response = (await load_current(ctx, "QuestionnaireResponse", req.id)).resource or {}
    if response.get("resourceType") != "QuestionnaireResponse":
        raise InvalidRequest(
            f"$extract takes a QuestionnaireResponse, not {response.get('resourceType')!r}",
            msg_id=MSG_BAD_INPUT,
        )
    return response


async def _questionnaire(ctx: Context, response: dict[str, Any]) -> dict[str, Any]:
    """The Questionnaire the response answers: the IG's first, then stored ones."""
    claimed = response.get("questionnaire")
    if isinstance(claimed, str) and claimed:
        url, _, version = claimed.partition("|")
        ig = ctx.services.ig
        candidates = [ig.by_url().get(url)] if ig is not None else []
        if not any(candidates):
            stored = await find_matches(ctx, "Questionnaire", f"url={quote(url, safe='')}")
            candidates = [s.resource for s in stored]
        for q in candidates:
            if q and q.get("resourceType") == "Questionnaire" and version in ("", q.get("version")):
                return q
    raise ProfileViolation(
        f"The QuestionnaireResponse answers {claimed!r}, which is not a Questionnaire this "
        "server knows; $extract needs the Questionnaire's extraction rules",
        expression=("QuestionnaireResponse.questionnaire",),
        msg_id=MSG_UNKNOWN_QUESTIONNAIRE,
    )


def _profile_issues(ctx: Context, bundle: dict[str, Any]) -> list[Issue]:
    """Validate every extracted Observation as the write path will; relocate the issues."""
    profiles = ctx.services.profiles
    if profiles is None:
        return []
    out: list[Issue] = []
    for i, entry in enumerate(bundle.get("entry", [])):
        where = f"Bundle.entry[{i}].resource"
        link_id = entry["resource"]["identifier"][0]["value"].rpartition("#")[2]
        for issue in profiles.issues_for(entry["resource"]):
            if issue.severity == "information":
                continue
            out.append(
                Issue(
                    issue.severity,
                    issue.code,
                    f"{where} (item '{link_id}'): {issue.diagnostics}",
                    tuple(
                        where + e[len("Observation") :] if e.startswith("Observation") else e
                        for e in issue.expression
                    )
                    or (where,),
                    issue.msg_id,
                )
            )
    return out


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    response = await _response(ctx, req)
    questionnaire = await _questionnaire(ctx, response)
    extraction = qx.extract(questionnaire, response)
    checked = _profile_issues(ctx, extraction.bundle)
    failed = [i for i in checked if i.severity in ("error", "fatal")]
    if failed:
        raise ProfileViolation(
            f"{len(failed)} extracted Observation rule(s) fail; first: {failed[0].diagnostics}",
            issues=checked,
            msg_id=MSG_INVALID_OBSERVATION,
        )
    issues = extraction.issues + checked
    if not issues:
        return Outcome(200, extraction.bundle)
    return Outcome(
        200,
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "return", "resource": extraction.bundle},
                {"name": "issues", "resource": operation_outcome(issues)},
            ],
        },
    )


OPERATION = Operation(
    name="extract",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"QuestionnaireResponse"}),
    type_level=True,
    instance=True,
)
