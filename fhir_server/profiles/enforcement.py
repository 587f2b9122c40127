"""Which profiles a resource must satisfy beyond those it claims.

DESIGN.md: "A deployment can switch on enforcement of a profile for every
resource of a type (a setting, off by default)". ``EnforcementPolicy`` parses
``FHIR_ENFORCE_PROFILES`` once (see ``ProfileSettings``) against the loaded IG
and answers ``profiles_for(resource)``; the write path passes the answer to
``ProfileValidator.validate(resource, profiles=...)``, which reports an
unknown or unsatisfied enforced profile as an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.profiles.checks.values import equals, pattern_match
from fhir_server.profiles.model import CompiledProfile
from fhir_server.profiles.validator import ProfileValidator


@dataclass
class EnforcementPolicy:
    """Profiles enforced per resource type: always, or chosen by the resource's code."""

    always: dict[str, list[str]] = field(default_factory=dict)
    by_code: dict[str, list[CompiledProfile]] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str, validator: ProfileValidator) -> EnforcementPolicy:
        """Parse ``mrtc`` / ``Type`` / ``Type=url`` items; ValueError names a bad item."""
        policy = cls()
        ig_by_type: dict[str, list[CompiledProfile]] = {}
        for sd in validator.source.ig_profiles:
            compiled = validator.profile(sd["url"])
            if compiled is not None:
                ig_by_type.setdefault(compiled.type, []).append(compiled)
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            if item.lower() == "mrtc":
                for rtype, profiles in ig_by_type.items():
                    policy._add_type(rtype, profiles)
            elif "=" in item:
                rtype, url = (p.strip() for p in item.split("=", 1))
                compiled = validator.profile(url)
                if compiled is None:
                    raise ValueError(
                        f"FHIR_ENFORCE_PROFILES: profile {url} is not loaded; "
                        "check the URL against ig/index.json"
                    )
                if compiled.type != rtype:
                    raise ValueError(
                        f"FHIR_ENFORCE_PROFILES: {url} constrains {compiled.type}, not {rtype}"
                    )
                policy.always.setdefault(rtype, []).append(compiled.url)
            else:
                if item not in ig_by_type:
                    raise ValueError(
                        f"FHIR_ENFORCE_PROFILES: the IG has no profile for type {item!r}"
                    )
                policy._add_type(item, ig_by_type[item])
        return policy

    def _add_type(self, rtype: str, profiles: list[CompiledProfile]) -> None:
        if len(profiles) == 1:
            self.always.setdefault(rtype, []).append(profiles[0].url)
        else:
            self.by_code.setdefault(rtype, []).extend(profiles)

    @property
    def enabled(self) -> bool:
        return bool(self.always or self.by_code)

    def profiles_for(self, resource: dict[str, Any]) -> list[str]:
        """The enforced profile URLs for this resource (claimed ones excluded)."""
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return []
        meta = resource.get("meta")
        tags = meta.get("profile") if isinstance(meta, dict) else None
        claimed = {
            p.split("|", 1)[0]
            for p in (tags if isinstance(tags, list) else [])
            if isinstance(p, str)
        }
        out = [u for u in self.always.get(rtype, []) if u not in claimed]
        candidates = self.by_code.get(rtype, [])
        if candidates and not any(p.url in claimed for p in candidates):
            out.extend(p.url for p in candidates if _selects(p, resource))
        return out


def _selects(profile: CompiledProfile, resource: dict[str, Any]) -> bool:
    """Whether the resource's ``code`` is the one the profile fixes, if it fixes one.

    The profile may fix ``code`` itself (fixed/pattern CodeableConcept) or its
    ``coding`` (a fixed/pattern Coding, or required slices each fixing a
    system and code); a profile that fixes no code applies to every resource.
    """
    rule = profile.root.children.get("code")
    if rule is None:
        return True
    actual = resource.get("code")
    if rule.fixed is not None:
        return _meets(rule.fixed_kind, rule.fixed, actual)
    coding_rule = rule.children.get("coding")
    if coding_rule is None:
        return True
    codings = actual.get("coding") if isinstance(actual, dict) else None
    codings = codings if isinstance(codings, list) else []
    wanted: list[tuple[str | None, Any]] = []
    if coding_rule.fixed is not None:
        wanted.append((coding_rule.fixed_kind, coding_rule.fixed))
    for s in coding_rule.slices:
        if not s.min:
            continue
        if s.fixed is not None:
            wanted.append((s.fixed_kind, s.fixed))
        else:
            fixed = {
                name: child.fixed
                for name, child in s.children.items()
                if name in ("system", "code") and child.fixed is not None
            }
            if fixed:
                wanted.append(("pattern", fixed))
    return all(any(_meets(kind, value, c) for c in codings) for kind, value in wanted)


def _meets(kind: str | None, expected: Any, actual: Any) -> bool:
    return equals(expected, actual) if kind == "fixed" else pattern_match(expected, actual)
