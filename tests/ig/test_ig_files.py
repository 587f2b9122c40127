"""Every ig/ file is a valid FHIR resource of its declared type, and the IG hangs together."""

from __future__ import annotations

import json
import re

import pytest
from fhir.resources.R4B import get_fhir_model_class

from ._ig import (
    BASE,
    IG_DIR,
    by_url,
    evaluate,
    extensions,
    files,
    load_index_builder,
    of_type,
    profiles,
)

# R4 constructs refused by the R4B models, kept in their R4 form on purpose: file -> reason.
KNOWN_R4B_REFUSALS: dict[str, str] = {}

CONFORMANCE = load_index_builder().CONFORMANCE_TYPES
CORE_EXTENSIONS = {"http://hl7.org/fhir/StructureDefinition/patient-birthPlace"}
ALL_FILES = sorted(files())


@pytest.mark.parametrize("name", ALL_FILES)
def test_file_is_valid_fhir_of_its_declared_type(name: str) -> None:
    res = files()[name]
    assert name == f"{res['resourceType']}-{res['id']}.json"
    assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", res["id"])
    if name in KNOWN_R4B_REFUSALS:
        pytest.skip(KNOWN_R4B_REFUSALS[name])
    get_fhir_model_class(res["resourceType"]).model_validate(res)


@pytest.mark.parametrize("name", ALL_FILES)
def test_conformance_resources_use_the_canonical_base(name: str) -> None:
    res = files()[name]
    if res["resourceType"] not in CONFORMANCE or res["id"].startswith("example-"):
        return
    if res["resourceType"] == "Binary":  # a served template (no canonical url)
        return
    assert res["url"] == f"{BASE}/{res['resourceType']}/{res['id']}"
    assert res["status"] == "active"
    assert res.get("version")


def test_index_is_current() -> None:
    builder = load_index_builder()
    expected = builder.render(builder.build_index(IG_DIR))
    current = (IG_DIR / "index.json").read_text(encoding="utf-8")
    assert current == expected, "run: python scripts/build_ig_index.py"
    assert json.loads(current)["count"] == len(files())


def test_implementation_guide_lists_every_resource() -> None:
    (ig,) = of_type("ImplementationGuide")
    listed = {r["reference"]["reference"] for r in ig["definition"]["resource"]}
    expected = {
        f"{r['resourceType']}/{r['id']}"
        for r in files().values()
        if r["resourceType"] != "ImplementationGuide"
    }
    assert listed == expected
    groups = {g["id"] for g in ig["definition"]["grouping"]}
    assert all(r["groupingId"] in groups for r in ig["definition"]["resource"])


def test_profiles_are_constraints_with_a_differential() -> None:
    for sd in of_type("StructureDefinition"):
        assert sd["derivation"] == "constraint"
        assert sd["baseDefinition"].startswith("http://hl7.org/fhir/StructureDefinition/")
        elements = sd["differential"]["element"]
        ids = [e["id"] for e in elements]
        assert len(ids) == len(set(ids)), sd["id"]
        for e in elements:
            assert e["id"].split(".")[0] == sd["type"]
            assert e["path"] == ".".join(p.split(":")[0] for p in e["id"].split(".")), e["id"]
            for c in e.get("constraint", []):
                assert {"key", "severity", "human", "expression"} <= set(c)
                assert c["severity"] in ("error", "warning")


def test_every_profile_has_a_conforming_example() -> None:
    for sd in profiles():
        assert [r for r in files().values() if sd["url"] in r.get("meta", {}).get("profile", [])], (
            sd["id"]
        )


def test_examples_claim_profiles_of_this_guide() -> None:
    urls = by_url()
    for res in files().values():
        for p in res.get("meta", {}).get("profile", []):
            assert p in urls and urls[p]["type"] == res["resourceType"], (res["id"], p)


def _differential_urls(kind: str) -> set[str]:
    found = set()
    for sd in of_type("StructureDefinition"):
        for e in sd["differential"]["element"]:
            if kind == "extension":
                for t in e.get("type", []):
                    if t["code"] == "Extension":
                        found.update(t.get("profile", []))
            elif kind == "valueset" and "binding" in e:
                found.add(e["binding"]["valueSet"])
            elif kind == "target":
                for t in e.get("type", []):
                    found.update(t.get("targetProfile", []))
    return found


def test_extensions_used_are_defined() -> None:
    urls = by_url()
    for u in _differential_urls("extension"):
        assert u in urls or u in CORE_EXTENSIONS, u
    # every extension defined here is used by a profile, by an operation's output, or by
    # the guide's own definitions (the derived SearchParameters)
    used = _differential_urls("extension") | {
        e["url"] for r in of_type("SearchParameter") for e in r.get("extension", [])
    }
    for ext in extensions():
        on_output = all(c["expression"].startswith("Bundle.") for c in ext.get("context", []))
        assert ext["url"] in used or on_output, ext["id"]


def test_bound_value_sets_exist() -> None:
    urls = by_url()
    for u in _differential_urls("valueset"):
        assert u in urls or u.startswith("http://hl7.org/fhir/ValueSet/"), u


def test_target_profiles_exist() -> None:
    urls = by_url()
    for u in _differential_urls("target"):
        assert u in urls or u.startswith("http://hl7.org/fhir/StructureDefinition/"), u


def _codesystems() -> dict[str, set[str]]:
    return {cs["url"]: {c["code"] for c in cs["concept"]} for cs in of_type("CodeSystem")}


def test_value_sets_expand_locally() -> None:
    cs = _codesystems()
    for vs in of_type("ValueSet"):
        for inc in vs["compose"]["include"]:
            assert "filter" not in inc and "valueSet" not in inc, vs["id"]
            if inc["system"] in cs:
                for c in inc.get("concept", []):
                    assert c["code"] in cs[inc["system"]], (vs["id"], c["code"])
            else:
                assert inc.get("concept"), (
                    f"{vs['id']}: external system {inc['system']} needs explicit concepts"
                )


def test_codesystem_counts_and_unique_codes() -> None:
    for cs in of_type("CodeSystem"):
        codes = [c["code"] for c in cs["concept"]]
        assert len(codes) == len(set(codes)) == cs["count"], cs["id"]
        declared = {p["code"] for p in cs.get("property", [])}
        for c in cs["concept"]:
            assert {p["code"] for p in c.get("property", [])} <= declared, (cs["id"], c["code"])


def _codings(node):
    if isinstance(node, dict):
        if "system" in node and "code" in node and isinstance(node["code"], str):
            yield node
        for v in node.values():
            yield from _codings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _codings(v)


def test_codes_of_local_code_systems_exist() -> None:
    cs = _codesystems()
    for name, res in files().items():
        if res["resourceType"] in ("CodeSystem", "ImplementationGuide"):
            continue
        for coding in _codings(res):
            if coding["system"] in cs:
                assert coding["code"] in cs[coding["system"]], (name, coding)


DERIVED = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-derived-search-parameter"


def test_search_parameters_evaluate_on_the_examples() -> None:
    for sp in of_type("SearchParameter"):
        assert sp["url"].startswith(BASE)
        if any(e["url"] == DERIVED for e in sp.get("extension", [])):
            # computed by the server from other resources: no expression to evaluate here
            # (tests/pathway/test_summary.py searches by them)
            assert "expression" not in sp, sp["id"]
            continue
        values = []
        for base in sp["base"]:
            for res in of_type(base):
                values += evaluate(res, sp["expression"])
        assert values, f"{sp['id']}: expression finds nothing in the examples"


def test_operation_definitions_are_the_guides() -> None:
    for op in of_type("OperationDefinition"):
        assert op["kind"] == "operation"
        assert op["url"].startswith(BASE)
        assert op["system"] or op["type"] or op["instance"]
        names = [p["name"] for p in op["parameter"]]
        assert len(names) == len(set(names)), op["id"]


def _leaf_steps(action, fixed=True):
    fixed = fixed and action.get("requiredBehavior") == "must"
    if "action" not in action:
        yield action, fixed
    for child in action.get("action", []):
        yield from _leaf_steps(child, fixed)


def test_plan_definition_sections_and_steps() -> None:
    (pd,) = of_type("PlanDefinition")
    sections = pd["action"]
    assert len(sections) == 9
    ids = {a["id"] for a in sections}
    urls = by_url()
    fixed = set()
    for a in sections:
        for step, is_fixed in _leaf_steps(a):
            assert step["definitionCanonical"] in urls
            if is_fixed:
                fixed.add((a["id"], step["code"][0]["coding"][0]["code"]))
        for rel in a.get("relatedAction", []):
            assert rel["actionId"] in ids
    assert fixed == {
        ("initial-msp", "biometric-form"),
        ("initial-msp", "transmit-report"),
        ("initial-dietitian", "biometric-form"),
        # issue 12: the dietitian sections transmit their report like the others
        ("initial-dietitian", "transmit-report"),
        ("final-dietitian", "biometric-form"),
        ("final-dietitian", "transmit-report"),
        ("mrtc-end", "transmit-report"),
    }
