"""Typed FHIR errors and the one table that maps them to HTTP.

Interactions raise these plain exceptions; only the API layer turns them into
an ``OperationOutcome`` response (see ``fhir_server.api.errors``). Each class
carries a stable ``msg_id`` so a user's report can be grepped, as HAPI does.
The status and issue code of every error live in ``ERROR_TABLE`` below and
nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One ``OperationOutcome.issue``: what went wrong and where."""

    severity: str  # fatal | error | warning | information
    code: str  # http://hl7.org/fhir/issue-type
    diagnostics: str
    expression: tuple[str, ...] = ()
    msg_id: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.msg_id:
            out["details"] = {
                "coding": [{"system": "urn:mrtc-fhir:message-id", "code": self.msg_id}],
                "text": self.diagnostics,
            }
        out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class FhirError(Exception):
    """Base of every error a FHIR client may see; subclasses pick the HTTP row."""

    message: str
    expression: tuple[str, ...] = ()
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    msg_id: str = "MRTC-0000"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def outcome_issues(self) -> list[Issue]:
        """The issues to report; a single one built from the message by default."""
        if self.issues:
            return self.issues
        status, code = ERROR_TABLE[type(self)]
        severity = "fatal" if status >= 500 else "error"
        return [Issue(severity, code, self.message, self.expression, self.msg_id)]

    @property
    def status(self) -> int:
        return ERROR_TABLE[type(self)][0]


class InvalidRequest(FhirError):
    """The request is malformed (bad JSON, bad header, bad parameter value)."""


class InvalidResource(FhirError):
    """The resource body does not conform to the FHIR structure."""


class ProfileViolation(FhirError):
    """The resource breaks a rule of a profile it claims or must follow."""


class UnknownResourceType(FhirError):
    """The URL names a resource type this server does not know."""


class ResourceNotFound(FhirError):
    """No resource (or version) with this id exists."""


class ResourceGone(FhirError):
    """The resource existed but has been deleted."""


class MethodNotAllowed(FhirError):
    """The HTTP method is not supported on this URL."""


class NotAcceptable(FhirError):
    """The client asked for a format this server cannot produce."""


class VersionConflict(FhirError):
    """A write raced another write or names a stale version (If-Match)."""


class PreconditionFailed(FhirError):
    """A conditional interaction's criteria or If-Match did not hold."""


class MultipleMatches(FhirError):
    """A conditional interaction's criteria matched more than one resource."""


class UnresolvedReference(FhirError):
    """A literal reference names a local resource that does not exist (referential integrity)."""


class BusinessRuleViolation(FhirError):
    """A well-formed request breaks a domain rule (identity-vigilance, consent, a step
    transition, a pathway precondition); the message says why."""


class DuplicateRecord(FhirError):
    """The resource would duplicate an existing one (a certain identity match)."""


class FailedDependency(FhirError):
    """A batch entry needs another entry of the bundle, and that entry failed."""


class PatchFailed(FhirError):
    """A well-formed patch could not be applied (failed test, missing path)."""


class PayloadTooLarge(FhirError):
    """The request body is larger than ``FHIR_MAX_BODY_BYTES``."""


class UriTooLong(FhirError):
    """The request URL is longer than ``FHIR_MAX_URL_BYTES``."""


class UnsupportedMediaType(FhirError):
    """The request body's Content-Type is not a FHIR JSON type."""


class UnsupportedParameter(FhirError):
    """A search or operation parameter is unknown or unsupported (strict handling)."""


class TooCostly(FhirError):
    """The request would exceed a configured complexity or fan-out bound."""


class Forbidden(FhirError):
    """The principal may not perform this interaction."""


class Unauthorized(FhirError):
    """No valid credentials were presented."""


class NotImplementedInteraction(FhirError):
    """The interaction is valid FHIR but not implemented here."""


class DatabaseUnavailable(FhirError):
    """The database cannot be reached; the request may be retried later."""


class InternalError(FhirError):
    """An unexpected failure; details are logged, never sent to the client."""


class DirectoryUnavailable(FhirError):
    """The external directory (ROR) failed or answered something unusable."""


class DirectoryTimeout(FhirError):
    """The external directory (ROR) did not answer in time, retries included."""


# The one table: error class -> (HTTP status, OperationOutcome issue code).
ERROR_TABLE: dict[type[FhirError], tuple[int, str]] = {
    InvalidRequest: (400, "invalid"),
    InvalidResource: (400, "structure"),
    ProfileViolation: (422, "processing"),
    UnsupportedParameter: (400, "not-supported"),
    Unauthorized: (401, "login"),
    Forbidden: (403, "forbidden"),
    UnknownResourceType: (404, "not-supported"),
    ResourceNotFound: (404, "not-found"),
    MethodNotAllowed: (405, "not-supported"),
    NotAcceptable: (406, "not-supported"),
    VersionConflict: (409, "conflict"),
    ResourceGone: (410, "deleted"),
    PreconditionFailed: (412, "conflict"),
    MultipleMatches: (412, "multiple-matches"),
    PayloadTooLarge: (413, "too-long"),
    UriTooLong: (414, "too-long"),
    UnsupportedMediaType: (415, "not-supported"),
    TooCostly: (422, "too-costly"),
    PatchFailed: (422, "processing"),
    BusinessRuleViolation: (422, "business-rule"),
    UnresolvedReference: (422, "not-found"),
    FailedDependency: (424, "processing"),
    DuplicateRecord: (409, "duplicate"),
    NotImplementedInteraction: (501, "not-supported"),
    InternalError: (500, "exception"),
    DatabaseUnavailable: (503, "transient"),
    DirectoryUnavailable: (502, "transient"),
    DirectoryTimeout: (504, "timeout"),
}


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource carrying ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}
