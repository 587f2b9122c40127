"""The profile services the application builds once at start-up.

``ProfileServices.build()`` takes the core subset and the loaded IG, compiles
every profile and parses ``FHIR_ENFORCE_PROFILES``, so that a miswired
deployment fails at start with a message naming the fix rather than on the
first write. ``check_write`` is what the write path (create, update, patch,
bundle entries) calls on the final resource before storing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server import errors
from fhir_server.errors import Issue
from fhir_server.ig import ImplementationGuide
from fhir_server.profiles.conformance import ConformanceSource
from fhir_server.profiles.enforcement import EnforcementPolicy
from fhir_server.profiles.validator import ProfileValidator
from fhir_server.settings import ProfileSettings
from fhir_server.terminology import TerminologyService

MSG_PROFILE_VIOLATION = "MRTC-PRF-000"


@dataclass(frozen=True)
class ProfileServices:
    """Validator + enforcement policy, shared read-only by every request."""

    validator: ProfileValidator
    policy: EnforcementPolicy

    @property
    def terminology(self) -> TerminologyService:
        return self.validator.terminology

    @property
    def source(self) -> ConformanceSource:
        return self.validator.source

    @classmethod
    def build(cls, ig: ImplementationGuide, settings: ProfileSettings) -> ProfileServices:
        """Build from the loaded IG and the profile settings; ValueError names a bad one."""
        source = ConformanceSource.from_guide(ig)
        validator = ProfileValidator(
            source,
            base_checks=settings.profile_base_checks,
            unknown_profile_severity=settings.unknown_profile_severity,
        )
        return cls(validator, EnforcementPolicy.parse(settings.enforce_profiles, validator))

    def issues_for(self, resource: dict[str, Any]) -> list[Issue]:
        """Every issue of ``resource`` against its claimed and enforced profiles."""
        return self.validator.validate(resource, self.policy.profiles_for(resource))

    def check_write(self, resource: dict[str, Any]) -> list[Issue]:
        """Raise ``ProfileViolation`` (HTTP 422) if any error; else return the warnings.

        The raised error carries every issue (errors and warnings), one
        OperationOutcome issue each, located by FHIRPath.
        """
        issues = self.issues_for(resource)
        failed = [i for i in issues if i.severity in ("error", "fatal")]
        if failed:
            rtype = resource.get("resourceType", "resource")
            first = failed[0]
            where = f" at {first.expression[0]}" if first.expression else ""
            raise errors.ProfileViolation(
                f"{rtype} violates {len(failed)} profile rule(s); first{where}: "
                f"{first.diagnostics}",
                issues=issues,
                msg_id=MSG_PROFILE_VIOLATION,
            )
        return issues
