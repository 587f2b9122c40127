"""Check an implementation guide against itself, as the server and its authors rely on it.

``fhir-server ig check`` runs this on a folder before it is released (and the
test suite on ``ig/``): the index lists exactly the folder's files, each file
is one FHIR resource named ``<Type>-<id>.json``, every resource is
structurally valid, every profile compiles without dangling references, and
every resource is valid against the profiles it claims (the examples against
their profiles). It uses the server's own loader and validator, so a guide
that passes here is a guide the server starts with and enforces as checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fhir_server.errors import FhirError
from fhir_server.ig import ImplementationGuide
from fhir_server.profiles.conformance import ConformanceSource
from fhir_server.profiles.structure import check_structure
from fhir_server.profiles.validator import ProfileValidator
from fhir_server.startup import StartupRefused

INDEX_NAME = "index.json"


@dataclass
class IgReport:
    """What was checked, and every problem found (an empty list: the guide is sound)."""

    root: Path
    resources: int = 0
    profiles: int = 0
    examples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_ig(root: Path) -> IgReport:
    report = IgReport(root)
    try:
        ig = ImplementationGuide.load(root)
    except StartupRefused as exc:
        report.problems.append(exc.message)
        return report
    report.resources = len(ig.resources)
    report.problems.extend(_files(root, ig))
    served = {id(r) for r in ig.served}
    for resource in ig.resources:
        type_, id_ = resource["resourceType"], resource.get("id")
        name = f"{type_}/{id_}"
        try:
            check_structure(type_, resource)
        except FhirError as exc:
            report.problems.append(f"{name}: not a valid {type_}: {_issues(exc)}")
        if id(resource) not in served:
            report.examples += 1
    report.profiles = sum(
        1 for sd in ig.of_type("StructureDefinition") if sd.get("derivation") == "constraint"
    )
    if report.problems:
        report.problems.append("profiles not compiled nor examples validated: fix the above first")
        return report
    try:
        _check_profiles(ig, report)
    except Exception as exc:  # a guide no check foresaw must still get an answer, not a crash
        report.problems.append(f"profile validation failed: {type(exc).__name__}: {exc}")
    return report


def _check_profiles(ig: ImplementationGuide, report: IgReport) -> None:
    validator = ProfileValidator(ConformanceSource.from_guide(ig))
    report.problems.extend(f"profile {w}" for w in validator.warnings)
    for resource in ig.resources:
        claimed = resource.get("meta", {}).get("profile") or []
        if not claimed:
            continue
        name = f"{resource['resourceType']}/{resource.get('id')}"
        for issue in validator.validate(resource):
            if issue.severity in ("error", "fatal"):
                where = f" at {issue.expression[0]}" if issue.expression else ""
                report.problems.append(
                    f"{name} against {', '.join(claimed)}{where}: {issue.diagnostics}"
                )


def _files(root: Path, ig: ImplementationGuide) -> list[str]:
    """Files the index does not list are neither served nor checked; names must say what is in."""
    present = {p.name for p in root.glob("*.json") if p.name != INDEX_NAME}
    problems = [
        f"{name}: in the folder but not listed in {INDEX_NAME}"
        for name in sorted(present - set(ig.files))
    ]
    for name, resource in zip(ig.files, ig.resources, strict=True):
        expected = f"{resource['resourceType']}-{resource.get('id')}.json"
        if name != expected:
            problems.append(
                f"{name}: holds {resource['resourceType']}/{resource.get('id')}, "
                f"so it must be named {expected}"
            )
    return problems


def _issues(exc: FhirError) -> str:
    return exc.message
