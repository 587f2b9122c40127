"""The profiles' FHIRPath invariants hold on the examples and catch the rules they state.

These tests exercise the expressions themselves with fhirpathpy (the validator engine in
fhir_server/profiles/ has its own tests); the Questionnaire's calculated BMI and the mapping of
its items to the Observation profiles are checked here too.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from ._ig import (
    BASE,
    by_url,
    element_nodes,
    evaluate,
    examples_of,
    extensions,
    files,
    holds,
    of_type,
    profiles,
)

EXT = f"{BASE}/StructureDefinition/"
FR_STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
FR_COMMENT = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status-comment"


def _constraints(sd: dict[str, Any]):
    for e in sd["differential"]["element"]:
        for c in e.get("constraint", []):
            yield e, c


CASES = [(sd["id"], c["key"]) for sd in profiles() for _, c in _constraints(sd)]


def _constraint(profile_id: str, key: str):
    sd = by_url()[EXT + profile_id]
    for e, c in _constraints(sd):
        if c["key"] == key:
            return e, c
    raise KeyError(key)


def _violations(resource: dict[str, Any], profile_id: str, key: str) -> list[Any]:
    e, c = _constraint(profile_id, key)
    return [
        n for n in element_nodes(resource, e["path"]) if not holds(n, c["expression"], resource)
    ]


@pytest.mark.parametrize(("profile_id", "key"), CASES)
def test_invariant_compiles_and_holds_on_examples(profile_id: str, key: str) -> None:
    sd = by_url()[EXT + profile_id]
    examples = examples_of(sd["url"])
    assert examples
    for ex in examples:
        assert _violations(ex, profile_id, key) == [], (ex["id"], key)


def test_extension_invariants_hold_on_examples() -> None:
    for ext in extensions():
        for e, c in _constraints(ext):
            for res in files().values():
                for node in evaluate(res, f"descendants().where(url = '{ext['url']}')"):
                    target = (
                        node
                        if e["path"] == "Extension"
                        else evaluate(node, e["path"].split(".", 1)[1])
                    )
                    for t in target if isinstance(target, list) else [target]:
                        assert holds(t, c["expression"], res), (res["id"], c["key"])


# --------------------------------------------------------------------------- negative cases


def example(rid: str) -> dict[str, Any]:
    (res,) = [r for r in files().values() if r["id"] == rid]
    return copy.deepcopy(res)


def _ir(patient):
    return next(e for e in patient["extension"] if e["url"] == EXT + "mrtc-identity-reliability")


def _set_status(patient, code):
    _ir(patient)["extension"][0]["valueCoding"] = {"system": FR_STATUS, "code": code}


def _add_comment(patient, code):
    _ir(patient)["extension"].append(
        {
            "url": "comment",
            "valueCodeableConcept": {"coding": [{"system": FR_COMMENT, "code": code}]},
        }
    )


def _official(patient):
    return next(n for n in patient["name"] if n["use"] == "official")


def _birth_place(patient):
    return next(e for e in patient["extension"] if e["url"].endswith("patient-birthPlace"))


def m_no_birthdate(p):
    del p["birthDate"]


def m_no_insee(p):
    _birth_place(p)["valueAddress"]["extension"] = []


def m_placeholder_name_qual(p):
    _official(p)["family"] = "À DEMANDER"


def m_placeholder_date(p):
    p["birthDate"] = "1900-01-01"


def m_placeholder_place(p):
    _birth_place(p)["valueAddress"]["extension"][0]["valueCoding"]["code"] = "99999"


def m_doubtful_qual(p):
    _add_comment(p, "DOUT")


def m_fict_and_dout(p):
    _add_comment(p, "FICT")
    _add_comment(p, "DOUT")


def m_qual_driving_licence(p):
    for e in _ir(p)["extension"]:
        if e["url"] == "validationMode":
            e["valueCoding"] = {
                "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity",
                "code": "PC",
            }


def m_qual_without_ins(p):
    p["identifier"] = []


def m_prov_with_ins(p):
    _set_status(p, "PROV")


def m_vide_not_fictitious(p):
    _official(p)["family"] = "VIDE"


def m_list_mismatch(p):
    _official(p)["extension"][0]["valueString"] = "Marie Léa"


def m_empty_usual(p):
    p["name"].append({"use": "usual"})


def m_future_birth(p):
    p["birthDate"] = "2999-01-01"


def m_bad_nir(p):
    p["identifier"][0]["value"] = "12345"


def m_self_family_link(p):
    link = next(e for e in p["extension"] if e["url"] == EXT + "mrtc-family-link")
    link["extension"][0]["valueReference"] = {"reference": f"Patient/{p['id']}"}


def pr_uncoded_profession(pr):
    pr["qualification"] = [{"code": {"text": "Psychologue"}}]


def rp_no_contact(rp):
    rp["telecom"] = [{"system": "url", "value": "https://example.org"}]


def c_withdrawn_without_reason(c):
    c["status"] = "inactive"


def c_reason_on_active(c):
    c["extension"].append({"url": EXT + "mrtc-consent-revocation-reason", "valueString": "x"})


def c_other_without_text(c):
    c["extension"][0]["extension"] = [
        {
            "url": "role",
            "valueCoding": {"system": f"{BASE}/CodeSystem/mrtc-consent-collector", "code": "other"},
        }
    ]


def _manual(ct, index):
    return ct["participant"][index]["extension"][0]


def ct_two_auto(ct):
    ct["participant"][1]["extension"] = [
        {"url": EXT + "mrtc-careteam-auto-habilitation", "valueBoolean": True}
    ]


def ct_non_pro_access(ct):
    _manual(ct, 6)["extension"].append({"url": "accessRequested", "valueBoolean": True})


def ct_pending_without_request(ct):
    _manual(ct, 5)["extension"] = [
        {"url": "professional", "valueBoolean": True},
        {"url": "directoryRequestPending", "valueBoolean": True},
    ]


def ct_manual_pro_without_unit(ct):
    del ct["participant"][5]["onBehalfOf"]


def ct_auto_on_manual(ct):
    ct["participant"][6]["extension"].append(
        {"url": EXT + "mrtc-careteam-auto-habilitation", "valueBoolean": True}
    )


def cp_other_plan(cp):
    cp["instantiatesCanonical"] = ["https://example.org/PlanDefinition/other"]


def cp_completed_without_end(cp):
    cp["status"] = "completed"


def t_no_date(t):
    del t["restriction"]


def t_not_honoured_completed(t):
    t["status"] = "completed"


def t_done_in_progress(t):
    t["status"] = "in-progress"


def t_form_without_questionnaire(t):
    del t["input"]


def t_report_without_document(t):
    del t["output"]


def o_value(v):
    def mutate(o):
        o["valueQuantity"]["value"] = v

    return mutate


def doc_no_title(d):
    del d["content"][0]["attachment"]["title"]


def g_duplicate_member(g):
    g["member"].append(copy.deepcopy(g["member"][0]))


NEGATIVE = [
    ("example-lea", "mrtc-patient", "mrtc-pat-1", m_no_birthdate),
    ("example-lea", "mrtc-patient", "mrtc-pat-1", m_no_insee),
    ("example-lea", "mrtc-patient", "mrtc-pat-2", m_placeholder_name_qual),
    ("example-lea", "mrtc-patient", "mrtc-pat-2", m_placeholder_date),
    ("example-lea", "mrtc-patient", "mrtc-pat-2", m_placeholder_place),
    ("example-lea", "mrtc-patient", "mrtc-pat-3", m_doubtful_qual),
    ("example-provisional", "mrtc-patient", "mrtc-pat-4", m_fict_and_dout),
    ("example-lea", "mrtc-patient", "mrtc-pat-5", m_qual_driving_licence),
    ("example-lea", "mrtc-patient", "mrtc-pat-6", m_qual_without_ins),
    ("example-lea", "mrtc-patient", "mrtc-pat-7", m_prov_with_ins),
    ("example-provisional", "mrtc-patient", "mrtc-pat-8", m_vide_not_fictitious),
    ("example-lea", "mrtc-patient", "mrtc-pat-9", m_list_mismatch),
    ("example-lea", "mrtc-patient", "mrtc-pat-10", m_empty_usual),
    ("example-lea", "mrtc-patient", "mrtc-pat-11", m_future_birth),
    ("example-lea", "mrtc-patient", "mrtc-pat-12", m_bad_nir),
    ("example-provisional", "mrtc-patient", "mrtc-pat-13", m_self_family_link),
    ("example-psychologist", "mrtc-manual-practitioner", "mrtc-prac-1", pr_uncoded_profession),
    ("example-lea-mother", "mrtc-relatedperson", "mrtc-rp-1", rp_no_contact),
    ("example-lea", "mrtc-consent", "mrtc-cons-1", c_withdrawn_without_reason),
    ("example-lea", "mrtc-consent", "mrtc-cons-2", c_reason_on_active),
    ("example-revoked", "mrtc-consent", "mrtc-cons-3", c_other_without_text),
    ("example-lea", "mrtc-careteam", "mrtc-ct-1", ct_two_auto),
    ("example-lea", "mrtc-careteam", "mrtc-ct-2", ct_non_pro_access),
    ("example-lea", "mrtc-careteam", "mrtc-ct-3", ct_pending_without_request),
    ("example-lea", "mrtc-careteam", "mrtc-ct-4", ct_manual_pro_without_unit),
    ("example-lea", "mrtc-careteam", "mrtc-ct-5", ct_auto_on_manual),
    ("example-lea", "mrtc-careplan", "mrtc-cp-1", cp_other_plan),
    ("example-lea", "mrtc-careplan", "mrtc-cp-2", cp_completed_without_end),
    ("example-lea-initial-msp-biometric", "mrtc-task", "mrtc-task-1", t_no_date),
    ("example-lea-dietitian-followup", "mrtc-task", "mrtc-task-2", t_not_honoured_completed),
    ("example-lea-initial-msp-biometric", "mrtc-task", "mrtc-task-3", t_done_in_progress),
    ("example-lea-initial-msp-biometric", "mrtc-task", "mrtc-task-4", t_form_without_questionnaire),
    ("example-lea-initial-msp-report", "mrtc-task", "mrtc-task-5", t_report_without_document),
    ("example-weight-lea", "mrtc-body-weight", "mrtc-obs-wt-1", o_value(655)),
    ("example-weight-lea", "mrtc-body-weight", "mrtc-obs-wt-2", o_value(5)),
    ("example-height-lea", "mrtc-body-height", "mrtc-obs-ht-1", o_value(1.6)),
    ("example-height-lea", "mrtc-body-height", "mrtc-obs-ht-2", o_value(60)),
    ("example-bmi-lea", "mrtc-bmi", "mrtc-obs-bmi-1", o_value(195)),
    ("example-bmi-lea", "mrtc-bmi", "mrtc-obs-bmi-2", o_value(8)),
    ("example-bilan-msp-lea", "mrtc-documentreference", "mrtc-doc-1", doc_no_title),
    ("example-favourites-msp", "mrtc-favourites-group", "mrtc-grp-1", g_duplicate_member),
]


@pytest.mark.parametrize(
    ("rid", "profile_id", "key", "mutate"),
    NEGATIVE,
    ids=[f"{k}-{m.__name__}" for _, _, k, m in NEGATIVE],
)
def test_invariant_rejects_the_rule_it_states(rid, profile_id, key, mutate) -> None:
    rtype = by_url()[EXT + profile_id]["type"]
    res = next(r for r in files().values() if r["id"] == rid and r["resourceType"] == rtype)
    res = copy.deepcopy(res)
    assert _violations(res, profile_id, key) == []
    mutate(res)
    assert _violations(res, profile_id, key), key


def test_every_invariant_has_a_negative_case() -> None:
    covered = {k for _, _, k, _ in NEGATIVE}
    assert {k for _, k in CASES} <= covered


def test_insee_code_format_invariant() -> None:
    (ext,) = [e for e in extensions() if e["id"] == "mrtc-insee-code"]
    (c,) = [c for _, c in _constraints(ext)]
    for code, ok in [
        ("13055", True),
        ("2A004", True),
        ("99999", True),
        ("99134", True),
        ("1305", False),
        ("ABCDE", False),
    ]:
        assert holds({"system": "x", "code": code}, c["expression"]) is ok, code


# --------------------------------------------------------------------------- the biometric form


def _questionnaire():
    (q,) = of_type("Questionnaire")
    return q


def _item(q, link_id):
    return next(i for i in q["item"] if i["linkId"] == link_id)


def _ext(node, url):
    return next(e for e in node.get("extension", []) if e["url"] == url)


@pytest.mark.parametrize(
    ("weight", "height", "bmi"),
    [(38.5, 140, Decimal("19.6")), (65.5, 160, Decimal("25.6")), (20, 110, Decimal("16.5"))],
)
def test_bmi_calculated_expression(weight, height, bmi) -> None:
    q = _questionnaire()
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "item": [
            {"linkId": "weight", "answer": [{"valueDecimal": weight}]},
            {"linkId": "height", "answer": [{"valueDecimal": height}]},
        ],
    }
    env = {"resource": qr}
    for v in q["extension"]:
        if v["url"] == "http://hl7.org/fhir/StructureDefinition/variable":
            env[v["valueExpression"]["name"]] = evaluate(
                qr, v["valueExpression"]["expression"], env
            )
    calc = _ext(
        _item(q, "bmi"),
        "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
    )
    assert evaluate(qr, calc["valueExpression"]["expression"], env) == [bmi]


def test_bmi_is_empty_without_height() -> None:
    q = _questionnaire()
    calc = _ext(
        _item(q, "bmi"),
        "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
    )
    assert (
        evaluate(
            {}, calc["valueExpression"]["expression"], {"weight": [Decimal("38.5")], "height": []}
        )
        == []
    )


def test_extracted_items_match_the_observation_profiles() -> None:
    """Each item flagged observationExtract carries the code and UCUM unit its profile fixes."""
    q = _questionnaire()
    urls = by_url()
    extracted = [
        i
        for i in q["item"]
        if any(
            e["url"].endswith("sdc-questionnaire-observationExtract")
            for e in i.get("extension", [])
        )
    ]
    assert {i["linkId"] for i in extracted} == {"weight", "height", "bmi"}
    for item in extracted:
        profile_url = item["definition"].split("#")[0]
        sd = urls[profile_url]
        diff = {e["id"]: e for e in sd["differential"]["element"]}
        code = diff["Observation.code"]["patternCodeableConcept"]["coding"][0]
        assert (
            item["code"][0]["system"] == code["system"] and item["code"][0]["code"] == code["code"]
        )
        unit = _ext(item, "http://hl7.org/fhir/StructureDefinition/questionnaire-unit")[
            "valueCoding"
        ]
        assert unit["code"] == diff["Observation.value[x].code"]["fixedCode"]
        assert unit["system"] == diff["Observation.value[x].system"]["fixedUri"]


def test_example_response_and_observations_agree() -> None:
    (qr,) = of_type("QuestionnaireResponse")
    answers = {i["linkId"]: i["answer"][0] for i in qr["item"]}
    obs = {o["code"]["coding"][0]["code"]: o for o in of_type("Observation")}
    assert obs["29463-7"]["valueQuantity"]["value"] == answers["weight"]["valueDecimal"]
    assert obs["8302-2"]["valueQuantity"]["value"] == answers["height"]["valueDecimal"]
    assert obs["39156-5"]["valueQuantity"]["value"] == answers["bmi"]["valueDecimal"]
    for o in obs.values():
        assert {"reference": f"QuestionnaireResponse/{qr['id']}"} in o["derivedFrom"]


@pytest.mark.parametrize(("profile_id", "key"), CASES)
def test_invariant_is_definite_on_a_sparse_resource(profile_id: str, key: str) -> None:
    """Never empty (the reference validator counts that as a failure) on a bare resource."""
    sd = by_url()[EXT + profile_id]
    e, c = _constraint(profile_id, key)
    bare: dict[str, Any] = {"resourceType": sd["type"]}
    node = bare if "." not in e["path"] else {}
    assert evaluate(node, c["expression"], {"resource": bare}) in ([True], [False])
