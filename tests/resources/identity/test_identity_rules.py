"""Identity-vigilance rules on every write of an MRTC Patient, through HTTP (item 1, 7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.resources.identity._patients import DOCUMENT, MODE, message_ids, mrtc_patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

_serial = iter(range(10_000))


def unique(**kwargs: Any) -> dict[str, Any]:
    """A patient whose traits no other test uses (so no duplicate is refused by accident)."""
    n = next(_serial)
    kwargs.setdefault("family", f"RULES{n:04d}".replace("0", "O").replace("1", "I"))
    return mrtc_patient(**kwargs)


GOOD: list[tuple[str, dict[str, Any]]] = [
    ("provisional-five-traits", {}),
    (
        "placeholders-keep-provisional",
        {"given": "À DEMANDER", "birth_date": "1900-01-01", "place": "99999"},
    ),
    ("placeholder-lower-case-accentless", {"given": "a demander"}),
    (
        "validated-with-identity-card",
        {"status": "VALI", "document": (MODE, "CN"), "birth_list": "Léa Marie"},
    ),
    ("validated-with-passport", {"status": "VALI", "document": (MODE, "PA"), "birth_list": "Léa"}),
    (
        "validated-with-family-book",
        {"status": "VALI", "document": (MODE, "LE"), "birth_list": "Léa Anne"},
    ),
    (
        "validated-with-birth-extract",
        {"status": "VALI", "document": (MODE, "AN"), "birth_list": "Léa"},
    ),
    (
        "validated-with-residence-permit",
        {"status": "VALI", "document": (MODE, "CS"), "birth_list": "Léa"},
    ),
    ("driving-licence-recorded-provisional", {"document": (MODE, "PC"), "birth_list": "Léa"}),
    ("homonym-and-doubtful", {"attributes": ("HOMA", "DOUT")}),
    ("fictitious-with-vide", {"given": "VIDE", "attributes": ("FICT",)}),
    ("used-name", {"usual": ("MARTIN", "Lily")}),
    ("no-status-becomes-provisional", {"status": None}),
    ("corsica-birth-place", {"place": "2A004"}),
    ("born-abroad", {"place": "99134"}),
]

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no-birth-family-name", {"family": None}, "MRTC-IDN-001"),
    ("no-first-given-name", {"given": None}, "MRTC-IDN-001"),
    ("no-birth-date", {"birth_date": None}, "MRTC-IDN-001"),
    ("no-sex", {"gender": None}, "MRTC-IDN-001"),
    ("no-birth-place", {"place": None, "status": "PROV"}, "MRTC-IDN-001"),
    (
        "placeholder-but-validated",
        {
            "birth_date": "1900-01-01",
            "status": "VALI",
            "document": (MODE, "CN"),
            "birth_list": "Léa",
        },
        "MRTC-IDN-002",
    ),
    ("validated-without-document", {"status": "VALI"}, "MRTC-IDN-003"),
    (
        "validated-with-driving-licence",
        {"status": "VALI", "document": (MODE, "PC"), "birth_list": "Léa"},
        "MRTC-IDN-003",
    ),
    (
        "validated-with-carte-vitale",
        {"status": "VALI", "document": (DOCUMENT, "CV"), "birth_list": "Léa"},
        "MRTC-IDN-003",
    ),
    (
        "doubtful-but-validated",
        {"status": "VALI", "document": (MODE, "CN"), "birth_list": "Léa", "attributes": ("DOUT",)},
        "MRTC-IDN-004",
    ),
    ("fictitious-and-doubtful", {"attributes": ("FICT", "DOUT")}, "MRTC-IDN-005"),
    ("document-seen-no-birth-list", {"status": "VALI", "document": (MODE, "CN")}, "MRTC-IDN-006"),
    (
        "birth-list-not-starting-with-first",
        {"birth_list": "Marie Léa", "document": (MODE, "CN")},
        "MRTC-IDN-007",
    ),
    ("vide-not-fictitious", {"given": "VIDE"}, "MRTC-IDN-008"),
    ("sex-other", {"gender": "other"}, "MRTC-IDN-009"),
    ("partial-birth-date", {"birth_date": "2015-03"}, "MRTC-IDN-010"),
    ("future-birth-date", {"birth_date": "2999-01-01"}, "MRTC-IDN-010"),
    ("bad-birth-place", {"place": "1305"}, "MRTC-IDN-011"),
    ("bad-phone", {"telecom": [{"system": "phone", "value": "12"}]}, "MRTC-IDN-030"),
    ("bad-email", {"telecom": [{"system": "email", "value": "jean at example"}]}, "MRTC-IDN-031"),
]


@pytest.mark.parametrize("name,kwargs", GOOD, ids=[g[0] for g in GOOD])
async def test_valid_identities_are_stored(
    client: httpx.AsyncClient, name: str, kwargs: dict[str, Any]
) -> None:
    body = unique(**kwargs)
    r = await client.post("/Patient", json=body)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["name"][0]["family"] == body["name"][0]["family"]  # stored as entered


@pytest.mark.parametrize("name,kwargs,msg_id", BAD, ids=[b[0] for b in BAD])
async def test_broken_rules_are_refused_with_the_reason(
    client: httpx.AsyncClient, name: str, kwargs: dict[str, Any], msg_id: str
) -> None:
    r = await client.post("/Patient", json=unique(**kwargs))
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert msg_id in message_ids(outcome), outcome
    assert outcome["issue"][0]["code"] == "business-rule"


async def test_the_rules_apply_without_the_profile_claim(client: httpx.AsyncClient) -> None:
    """Not only when claimed: a Patient carrying identity data is an MRTC record."""
    r = await client.post("/Patient", json=unique(claim=False, status="VALI"))
    assert r.status_code == 422
    assert "MRTC-IDN-003" in message_ids(r.json())


async def test_a_record_without_status_is_provisional(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=unique(status=None))).json()
    statuses = [
        s["valueCoding"]["code"]
        for e in created["extension"]
        if e["url"].endswith("mrtc-identity-reliability")
        for s in e["extension"]
        if s["url"] == "identityStatus"
    ]
    assert statuses == ["PROV"]


async def test_status_rises_only_with_a_document_and_traits_stay_after_validation(
    client: httpx.AsyncClient,
) -> None:
    body = unique(birth_list="Léa Marie")
    created = (await client.post("/Patient", json=body)).json()
    pid = created["id"]
    # provisional -> validated with a driving licence: refused, saying why
    refused = await client.put(
        f"/Patient/{pid}",
        json={
            **unique(
                family=body["name"][0]["family"],
                status="VALI",
                document=(MODE, "PC"),
                birth_list="Léa Marie",
            ),
            "id": pid,
        },
    )
    assert refused.status_code == 422
    assert "driving licence" in refused.text
    # with an identity card: accepted
    validated = {
        **unique(
            family=body["name"][0]["family"],
            status="VALI",
            document=(MODE, "CN"),
            validated="2026-03-02",
            birth_list="Léa Marie",
        ),
        "id": pid,
    }
    assert (await client.put(f"/Patient/{pid}", json=validated)).status_code == 200
    # a strict trait changed without a new document check: refused
    changed = {**validated, "birthDate": "2015-03-15"}
    r = await client.put(f"/Patient/{pid}", json=changed)
    assert r.status_code == 422 and "MRTC-IDN-020" in message_ids(r.json())
    # with a new validation date: accepted
    rechecked = unique(
        family=body["name"][0]["family"],
        birth_date="2015-03-15",
        status="VALI",
        document=(MODE, "CN"),
        validated="2026-04-01",
        birth_list="Léa Marie",
    )
    assert (await client.put(f"/Patient/{pid}", json={**rechecked, "id": pid})).status_code == 200


async def test_phone_numbers_are_stored_e164_and_email_domain_lower_cased(
    client: httpx.AsyncClient,
) -> None:
    telecom = [
        {"system": "phone", "value": "06 12 34 56 78", "use": "mobile"},
        {"system": "phone", "value": "+33 (0)4 91 00 00 00"},
        {"system": "email", "value": "Sophie.Dupont@Example.ORG"},
    ]
    contact = [
        {"name": {"family": "DUPONT"}, "telecom": [{"system": "phone", "value": "0612345679"}]}
    ]
    r = await client.post("/Patient", json=unique(telecom=telecom, contact=contact))
    assert r.status_code == 201, r.text
    stored = r.json()
    assert [t["value"] for t in stored["telecom"]] == [
        "+33612345678",
        "+33491000000",
        "Sophie.Dupont@example.org",
    ]
    assert stored["contact"][0]["telecom"][0]["value"] == "+33612345679"
    # contact details completed later (update)
    stored["address"] = [{"line": ["1 rue de la Paix"], "city": "Marseille", "postalCode": "13001"}]
    stored["telecom"].append({"system": "sms", "value": "07 81 23 45 67"})
    r = await client.put(f"/Patient/{stored['id']}", json=stored)
    assert r.status_code == 200, r.text
    assert r.json()["telecom"][-1]["value"] == "+33781234567"


async def test_plain_patients_of_other_clients_are_left_alone(client: httpx.AsyncClient) -> None:
    """FHIR_IDENTITY_RULES=mrtc (default): a Patient without MRTC identity data is not judged."""
    r = await client.post("/Patient", json={"resourceType": "Patient", "gender": "other"})
    assert r.status_code == 201


async def test_create_after_search_refuses_a_certain_duplicate_unless_homonym(
    client: httpx.AsyncClient,
) -> None:
    first = (
        await client.post("/Patient", json=mrtc_patient("LEBLANC", "Chloé", "2016-07-01"))
    ).json()
    # the same five traits typed differently: accents, case, hyphen
    again = (
        mrtc_patient("Le-Blanc", "CHLOE", "2016-07-01", family_note=None)
        if False
        else mrtc_patient("leblanc", "CHLOE", "2016-07-01")
    )
    r = await client.post("/Patient", json=again)
    assert r.status_code == 409, r.text
    outcome = r.json()
    assert "MRTC-IDN-050" in message_ids(outcome)
    assert f"Patient/{first['id']}" in outcome["issue"][0]["diagnostics"]
    # nothing was created
    found = (await client.get("/Patient", params={"birth-family-name": "leblanc"})).json()
    assert len(found.get("entry", [])) == 1
    # a homonym is a different child on purpose
    homonym = mrtc_patient("LEBLANC", "Chloé", "2016-07-01", attributes=("HOMA",))
    assert (await client.post("/Patient", json=homonym)).status_code == 201
    # a provisional placeholder is never evidence: two "À DEMANDER" children coexist
    a = mrtc_patient("À DEMANDER", "Chloé", "2016-07-01")
    assert (await client.post("/Patient", json=a)).status_code == 201
    assert (await client.post("/Patient", json=a)).status_code == 201


async def test_a_duplicate_inside_a_transaction_rolls_everything_back(
    client: httpx.AsyncClient,
) -> None:
    body = mrtc_patient("ROLLBACK", "Tom", "2014-02-02", gender="male")
    assert (await client.post("/Patient", json=body)).status_code == 201
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": mrtc_patient("OTHERONE", "Tom", "2014-02-02", gender="male"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": body, "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 409, r.text
    found = (await client.get("/Patient", params={"birth-family-name": "otherone"})).json()
    assert not found.get("entry")


async def test_a_foreign_birth_place_without_insee_code_is_not_an_mrtc_record(
    client: httpx.AsyncClient,
) -> None:
    """EHR / Synthea Patients carry patient-birthPlace as an address: left alone."""
    body = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {"city": "Boston", "state": "MA", "country": "US"},
            }
        ],
        "name": [{"use": "official", "family": "Kihn564", "given": ["Leta870"]}],
        "telecom": [{"system": "phone", "value": "555-123-4567"}],
    }
    assert (await client.post("/Patient", json=body)).status_code == 201
