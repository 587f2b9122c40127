"""Observation-based extraction of the "MRTC Suivi Biométrique" form, as a pure function.

Every extracted Observation is also run through the IG's profile validator, so
these tests prove the output conforms to mrtc-body-weight / -height / -bmi.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhir_server.errors import ProfileViolation
from fhir_server.operations import sdc
from fhir_server.operations.sdc import questionnaire as q
from fhir_server.profiles.strict_json import check_resource
from fhir_server.profiles.validator import ProfileValidator

IG = Path(__file__).resolve().parents[3] / "ig"
BASE = "https://mrtc.example.org/fhir"
WEIGHT, HEIGHT, BMI = "29463-7", "8302-2", "39156-5"


def _load(name: str) -> dict[str, Any]:
    return json.loads((IG / name).read_text())


QUESTIONNAIRE = _load("Questionnaire-mrtc-suivi-biometrique.json")


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    return ProfileValidator.from_ig(IG)


def response(**answers: Any) -> dict[str, Any]:
    """The IG's example response with some answers replaced (None removes the item)."""
    qr = copy.deepcopy(_load("QuestionnaireResponse-example-lea-initial-msp.json"))
    for link_id, answer in answers.items():
        link_id = link_id.replace("_", "-")
        qr["item"] = [i for i in qr["item"] if i["linkId"] != link_id]
        if answer is not None:
            qr["item"].append({"linkId": link_id, "answer": [answer]})
    return qr


def by_code(extraction: sdc.Extraction) -> dict[str, dict[str, Any]]:
    return {
        e["resource"]["code"]["coding"][0]["code"]: e["resource"]
        for e in extraction.bundle["entry"]
    }


def assert_conforms(validator: ProfileValidator, obs: dict[str, Any]) -> None:
    issues = validator.validate(obs)
    assert [i for i in issues if i.severity in ("error", "fatal")] == [], issues


def test_example_response_gives_the_igs_three_observations(validator: ProfileValidator) -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response())
    assert extraction.bundle["type"] == "transaction"
    assert extraction.issues == []
    obs = by_code(extraction)
    assert set(obs) == {WEIGHT, HEIGHT, BMI}
    for code, example in [(WEIGHT, "weight"), (HEIGHT, "height")]:
        expected = _load(f"Observation-example-{example}-lea.json")
        expected.pop("id")
        assert obs[code] == expected
    for o in obs.values():
        assert_conforms(validator, o)


def test_each_observation_carries_what_the_ig_lists() -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response())
    entries = extraction.bundle["entry"]
    weight = by_code(extraction)[WEIGHT]
    assert weight["meta"]["profile"] == [f"{BASE}/StructureDefinition/mrtc-body-weight"]
    assert weight["category"][0]["coding"][0]["code"] == "vital-signs"
    assert weight["subject"] == {"reference": "Patient/example-lea"}
    assert weight["effectiveDateTime"] == "2026-03-02T10:05:00+01:00"  # measurement-date
    assert weight["valueQuantity"] == {
        "value": 38.5,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert weight["derivedFrom"] == [{"reference": "QuestionnaireResponse/example-lea-initial-msp"}]
    assert entries[0]["request"] == {
        "method": "PUT",
        "url": "Observation?identifier=https%3A%2F%2Fmrtc.example.org%2Ffhir%2Fsid%2F"
        "questionnaire-extraction%7Cexample-lea-initial-msp%23weight",
    }
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in entries)
    # Same response, same Bundle: fullUrls are derived from the response id and linkId.
    assert sdc.extract(QUESTIONNAIRE, response()).bundle == extraction.bundle


def test_bmi_is_computed_and_derived_from_weight_and_height(validator: ProfileValidator) -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response(bmi=None))
    bmi = by_code(extraction)[BMI]
    assert bmi["valueQuantity"] == {
        "value": 19.6,  # 38.5 / 1.40² = 19.64
        "unit": "kg/m2",
        "system": "http://unitsofmeasure.org",
        "code": "kg/m2",
    }
    assert bmi["meta"]["profile"] == [f"{BASE}/StructureDefinition/mrtc-bmi"]
    urls = [e["fullUrl"] for e in extraction.bundle["entry"][:2]]
    assert bmi["derivedFrom"] == [
        {"reference": "QuestionnaireResponse/example-lea-initial-msp"},
        *({"reference": u} for u in urls),
    ]
    assert_conforms(validator, bmi)


def test_bmi_rounds_half_up_like_fhirpath_says() -> None:
    # 20.25 / 1.00² = 20.25: FHIRPath round(1) gives 20.3 (fhirpathpy alone would give 20.2).
    bmi = by_code(
        sdc.extract(
            QUESTIONNAIRE, response(weight={"valueDecimal": 20.25}, height={"valueInteger": 100})
        )
    )[BMI]
    assert bmi["valueQuantity"]["value"] == 20.3


def test_a_differing_bmi_answer_is_recomputed_with_a_warning() -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response(bmi={"valueDecimal": 25.0}))
    assert by_code(extraction)[BMI]["valueQuantity"]["value"] == 19.6
    [warning] = extraction.issues
    assert (warning.severity, warning.msg_id) == ("warning", q.MSG_CALCULATION_DIFFERS)
    assert "25" in warning.diagnostics and "19.6" in warning.diagnostics


@pytest.mark.parametrize(
    ("text", "expected"),
    [("65,5", 65.5), ("65.5", 65.5), (" 65,25 ", 65.25), ("66", 66)],
)
def test_comma_or_point_weight_text_is_normalised(
    validator: ProfileValidator, text: str, expected: float
) -> None:
    extraction = sdc.extract(
        QUESTIONNAIRE,
        response(weight={"valueString": text}, height={"valueString": "160"}, bmi=None),
    )
    obs = by_code(extraction)
    assert obs[WEIGHT]["valueQuantity"]["value"] == expected
    assert type(obs[WEIGHT]["valueQuantity"]["value"]) is type(expected)
    assert obs[HEIGHT]["valueQuantity"]["value"] == 160
    weight_answer = next(i for i in extraction.response["item"] if i["linkId"] == "weight")
    assert weight_answer["answer"] == [{"valueDecimal": expected}]
    assert {i.msg_id for i in extraction.issues} == {q.MSG_NORMALISED}
    assert all(i.severity == "information" for i in extraction.issues)
    bmi = Decimal(str(expected)) / Decimal("1.6") ** 2
    assert obs[BMI]["valueQuantity"]["value"] == float(bmi.quantize(Decimal("0.1")))
    for o in obs.values():
        assert_conforms(validator, o)


def test_the_caller_response_is_not_modified() -> None:
    qr = response(weight={"valueString": "65,5"})
    before = copy.deepcopy(qr)
    sdc.extract(QUESTIONNAIRE, qr)
    assert qr == before


@pytest.mark.parametrize(
    ("answer", "msg_id", "where"),
    [
        ({"valueString": "soixante"}, q.MSG_NOT_NUMERIC, ".valueString"),
        ({"valueString": "65,5 kg"}, q.MSG_NOT_NUMERIC, ".valueString"),
        ({"valueString": "1.234,5"}, q.MSG_NOT_NUMERIC, ".valueString"),
        ({"valueString": ""}, q.MSG_NOT_NUMERIC, ".valueString"),
        ({"valueDecimal": "65.5"}, q.MSG_NOT_NUMERIC, ".valueDecimal"),
        ({"valueBoolean": True}, q.MSG_WRONG_TYPE, ""),
        ({"valueDecimal": 400}, q.MSG_OUT_OF_RANGE, ""),
        ({"valueString": "0,2"}, q.MSG_OUT_OF_RANGE, ""),
        ({"valueDecimal": 38.125}, q.MSG_TOO_PRECISE, ""),
    ],
)
def test_an_answer_breaking_its_item_is_a_422_naming_the_item(
    answer: dict[str, Any], msg_id: str, where: str
) -> None:
    qr = response(weight=answer)
    index = next(i for i, item in enumerate(qr["item"]) if item["linkId"] == "weight")
    with pytest.raises(ProfileViolation) as caught:
        sdc.extract(QUESTIONNAIRE, qr)
    exc = caught.value
    assert exc.status == 422
    [issue] = exc.outcome_issues()
    assert issue.msg_id == msg_id
    assert "'weight'" in issue.diagnostics
    assert issue.expression == (f"QuestionnaireResponse.item[{index}].answer[0]{where}",)


def test_every_bad_answer_is_reported_at_once() -> None:
    qr = response(weight={"valueString": "abc"}, height={"valueDecimal": 300})
    with pytest.raises(ProfileViolation) as caught:
        sdc.extract(QUESTIONNAIRE, qr)
    diagnostics = [i.diagnostics for i in caught.value.outcome_issues()]
    assert len(diagnostics) == 2
    assert "'weight'" in diagnostics[0] and "'height'" in diagnostics[1]


def test_two_answers_to_a_non_repeating_item_are_refused() -> None:
    qr = response()
    qr["item"][1]["answer"].append({"valueDecimal": 39})
    with pytest.raises(ProfileViolation) as caught:
        sdc.extract(QUESTIONNAIRE, qr)
    assert caught.value.outcome_issues()[0].msg_id == q.MSG_TOO_MANY_ANSWERS


def test_missing_height_gives_weight_only_and_says_why(validator: ProfileValidator) -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response(height=None, bmi=None))
    assert set(by_code(extraction)) == {WEIGHT}
    ids = [i.msg_id for i in extraction.issues]
    assert ids == [q.MSG_UNANSWERED, q.MSG_NOT_CALCULABLE]
    assert "'height'" in extraction.issues[0].diagnostics
    assert "'bmi'" in extraction.issues[1].diagnostics
    assert_conforms(validator, by_code(extraction)[WEIGHT])


def test_no_measure_at_all_gives_an_empty_transaction() -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response(weight=None, height=None, bmi=None))
    # no "entry": [] (FHIR JSON has no empty arrays), so the Bundle can be submitted as is
    assert extraction.bundle == {"resourceType": "Bundle", "type": "transaction"}
    assert check_resource(extraction.bundle, "Bundle", None) == []
    assert extraction.issues[-1].msg_id == q.MSG_NOTHING_TO_EXTRACT


def test_without_measurement_date_the_authored_date_is_used() -> None:
    extraction = sdc.extract(QUESTIONNAIRE, response(measurement_date=None))
    assert {o["effectiveDateTime"] for o in by_code(extraction).values()} == {
        "2026-03-02T10:20:00+01:00"
    }


def test_without_any_date_the_response_is_refused() -> None:
    qr = response(measurement_date=None)
    del qr["authored"]
    with pytest.raises(ProfileViolation) as caught:
        sdc.extract(QUESTIONNAIRE, qr)
    assert caught.value.msg_id == q.MSG_NO_EFFECTIVE


@pytest.mark.parametrize(
    ("status", "expected"),
    [("completed", "final"), ("in-progress", "preliminary"), ("amended", "amended")],
)
def test_observation_status_follows_the_response(status: str, expected: str) -> None:
    qr = response()
    qr["status"] = status
    assert {o["status"] for o in by_code(sdc.extract(QUESTIONNAIRE, qr)).values()} == {expected}


def test_device_author_is_not_a_performer() -> None:
    qr = response()
    qr["author"] = {"reference": "Device/tablet-1"}
    assert all("performer" not in o for o in by_code(sdc.extract(QUESTIONNAIRE, qr)).values())


@pytest.mark.parametrize(
    ("change", "msg_id"),
    [
        ({"questionnaire": f"{BASE}/Questionnaire/other"}, q.MSG_OTHER_QUESTIONNAIRE),
        (
            {"questionnaire": f"{BASE}/Questionnaire/mrtc-suivi-biometrique|9.9"},
            q.MSG_OTHER_QUESTIONNAIRE,
        ),
        ({"id": None}, q.MSG_NO_ID),
        ({"status": "stopped"}, q.MSG_STATUS),
        ({"subject": None}, q.MSG_NO_SUBJECT),
        ({"subject": {"reference": "Group/siblings"}}, q.MSG_NO_SUBJECT),
    ],
)
def test_a_response_that_cannot_be_extracted_is_a_422(change: dict[str, Any], msg_id: str) -> None:
    qr = response()
    for key, value in change.items():
        if value is None:
            qr.pop(key)
        else:
            qr[key] = value
    with pytest.raises(ProfileViolation) as caught:
        sdc.extract(QUESTIONNAIRE, qr)
    assert caught.value.status == 422
    assert caught.value.msg_id == msg_id


def test_versioned_canonical_of_the_right_version_is_accepted() -> None:
    qr = response()
    qr["questionnaire"] += "|" + QUESTIONNAIRE["version"]
    assert len(sdc.extract(QUESTIONNAIRE, qr).bundle["entry"]) == 3
