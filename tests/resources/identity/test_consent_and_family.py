"""Consent rules and family links through HTTP (items 4 and 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.resources.identity._patients import FAMILY_LINK, message_ids, mrtc_patient

pytestmark = pytest.mark.asyncio(loop_scope="session")
IG = Path(__file__).resolve().parents[3] / "ig"


def consent(patient_id: str, **changes: Any) -> dict[str, Any]:
    body = json.loads((IG / "Consent-example-lea.json").read_text())
    body.pop("id", None)
    body["patient"] = {"reference": f"Patient/{patient_id}"}
    body.pop("organization", None)
    body.pop("performer", None)
    body.pop("sourceReference", None)
    for ext in body.get("extension", []):
        ext["extension"] = [s for s in ext.get("extension", []) if s["url"] != "party"]
    body.update(changes)
    return body


async def _patient(client: httpx.AsyncClient, family: str) -> str:
    r = await client.post("/Patient", json=mrtc_patient(family, "Sam", "2013-05-05", "male"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_revoking_needs_a_reason_and_history_is_kept(client: httpx.AsyncClient) -> None:
    pid = await _patient(client, "CONSENTA")
    r = await client.post("/Consent", json=consent(pid))
    assert r.status_code == 201, r.text
    created = r.json()
    # withdrawn without a reason: refused, nothing lost
    refused = await client.put(f"/Consent/{created['id']}", json={**created, "status": "inactive"})
    assert refused.status_code == 422
    assert "MRTC-CNS-001" in message_ids(refused.json())
    # with the reason: accepted
    reason = {
        "url": "https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent-revocation-reason",
        "valueString": "Retrait par le titulaire de l'autorité parentale",
    }
    revoked = {**created, "status": "inactive", "extension": [*created["extension"], reason]}
    r = await client.put(f"/Consent/{created['id']}", json=revoked)
    assert r.status_code == 200, r.text
    # never active again, never deleted; both versions in the history
    again = {**r.json(), "status": "active", "extension": created["extension"]}
    r2 = await client.put(f"/Consent/{created['id']}", json=again)
    assert r2.status_code == 422 and "MRTC-CNS-006" in message_ids(r2.json())
    r3 = await client.delete(f"/Consent/{created['id']}")
    assert r3.status_code == 405 and "MRTC-CNS-007" in message_ids(r3.json())
    history = (await client.get(f"/Consent/{created['id']}/_history")).json()
    assert [e["resource"]["status"] for e in history["entry"]] == ["inactive", "active"]


@pytest.mark.parametrize(
    "changes,msg_id",
    [
        ({"extension": None}, "MRTC-CNS-003"),
        (
            {
                "extension": [
                    {
                        "url": "https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent-collector",
                        "extension": [
                            {
                                "url": "role",
                                "valueCoding": {
                                    "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-consent-collector",
                                    "code": "other",
                                },
                            }
                        ],
                    }
                ]
            },
            "MRTC-CNS-004",
        ),
        ({"dateTime": None}, "MRTC-CNS-005"),
        ({"status": "entered-in-error"}, "MRTC-CNS-001"),
    ],
)
async def test_consent_rules(
    client: httpx.AsyncClient, changes: dict[str, Any], msg_id: str
) -> None:
    pid = await _patient(client, f"CONSENT{msg_id[-1]}{len(changes)}X")
    body = consent(pid, **changes)
    body = {k: v for k, v in body.items() if v is not None}
    r = await client.post("/Consent", json=body)
    assert r.status_code == 422, r.text
    assert msg_id in message_ids(r.json())


async def test_the_consent_form_template_and_family_links(client: httpx.AsyncClient) -> None:
    sister = await _patient(client, "FAMILLEA")
    r = await client.post("/Patient", json=mrtc_patient("FAMILLEB", "Zoé", "2015-01-01"))
    brother = r.json()
    link = {
        "url": FAMILY_LINK,
        "extension": [
            {"url": "patient", "valueReference": {"reference": f"Patient/{sister}"}},
            {
                "url": "relationship",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                            "code": "MTH",
                        }
                    ]
                },
            },
        ],
    }
    brother["extension"].append(link)
    r = await client.put(f"/Patient/{brother['id']}", json=brother)
    assert r.status_code == 200, r.text
    # visible from the other record too, relationship turned round
    other = (await client.get(f"/Patient/{sister}")).json()
    links = [e for e in other.get("extension", []) if e["url"] == FAMILY_LINK]
    assert len(links) == 1
    subs = {s["url"]: s for s in links[0]["extension"]}
    assert subs["patient"]["valueReference"]["reference"] == f"Patient/{brother['id']}"
    assert subs["relationship"]["valueCodeableConcept"]["coding"][0]["code"] == "CHILD"
    found = (
        await client.get("/Patient", params={"family-link": f"Patient/{brother['id']}"})
    ).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [sister]
    # unlinking removes both sides
    brother = (await client.get(f"/Patient/{brother['id']}")).json()
    brother["extension"] = [e for e in brother["extension"] if e["url"] != FAMILY_LINK]
    assert (await client.put(f"/Patient/{brother['id']}", json=brother)).status_code == 200
    other = (await client.get(f"/Patient/{sister}")).json()
    assert not [e for e in other.get("extension", []) if e["url"] == FAMILY_LINK]
    # a link to a record that does not exist
    brother["extension"].append(
        {
            **link,
            "extension": [
                {"url": "patient", "valueReference": {"reference": "Patient/nobody"}},
                link["extension"][1],
            ],
        }
    )
    r = await client.put(f"/Patient/{brother['id']}", json=brother)
    assert r.status_code in (404, 422), r.text
