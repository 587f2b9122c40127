"""Patient/[id]/$bmi-chart: the child's BMI over the IOTF 25 and 30 curves, PNG or SVG."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.operations.biometrics.conftest import BMI, measure, msg_ids

pytestmark = pytest.mark.asyncio(loop_scope="session")
SVG_NS = "{http://www.w3.org/2000/svg}"
POINTS = [("2024-05-04", 18.5), ("2025-05-04", 19.4), ("2026-05-04", 20.3)]


@pytest.fixture(scope="module", autouse=True)
async def bmi_series(doctor: httpx.AsyncClient, system: httpx.AsyncClient) -> None:
    for when, value in POINTS[:-1]:
        r = await doctor.post("/Observation", json=measure(BMI, value, when=when))
        assert r.status_code == 201, r.text
    # The last point comes from an EHR, pushed twice (conditional create): drawn once.
    when, value = POINTS[-1]
    identifier = {"system": "urn:oid:1.2.250.1.999.1", "value": "ehr-chart-1"}
    pushed = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": measure(BMI, value, when=when, identifier=[identifier]),
                "request": {
                    "method": "POST",
                    "url": "Observation",
                    "ifNoneExist": "identifier=urn:oid:1.2.250.1.999.1|ehr-chart-1",
                },
            }
        ],
    }
    for _ in range(2):
        r = await system.post("/", json=pushed)
        assert r.status_code == 200, r.text
    # An EHR's point of another child, and a withdrawn one of Léa's: neither is drawn.
    withdrawn = measure(BMI, 30.0, when="2026-01-01", status="entered-in-error")
    assert (await doctor.post("/Observation", json=withdrawn)).status_code == 201
    other = measure(BMI, 25.0, patient="noah")
    assert (await system.post("/Observation", json=other)).status_code == 201


def svg_points(svg: bytes) -> list[ET.Element]:
    root = ET.fromstring(svg)
    group = next(g for g in root.iter(f"{SVG_NS}g") if g.get("id") == "bmi-points")
    return list(group.iter(f"{SVG_NS}use"))


def svg_texts(svg: bytes) -> str:
    return " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG_NS}text"))


async def test_svg_holds_the_childs_points_and_french_labels(doctor: httpx.AsyncClient) -> None:
    r = await doctor.get("/Patient/lea/$bmi-chart", headers={"Accept": "image/svg+xml"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert len(svg_points(r.content)) == len(POINTS)
    texts = svg_texts(r.content)
    for label in (
        "Âge (années)",
        "IMC (kg/m²)",
        "IOTF 25 (surpoids)",
        "IOTF 30 (obésité)",
        "fille",
    ):
        assert label in texts


async def test_png_is_a_valid_image(doctor: httpx.AsyncClient) -> None:
    for headers, params in (({"Accept": "image/png"}, {}), ({}, {}), ({}, {"_format": "png"})):
        r = await doctor.get("/Patient/lea/$bmi-chart", headers=headers, params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("image/png")
        png = r.content
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert (width, height) == (800, 550)
        assert png.endswith(b"IEND\xaeB`\x82")


async def test_svg_by_format_parameter_and_post(doctor: httpx.AsyncClient) -> None:
    r = await doctor.get("/Patient/lea/$bmi-chart", params={"_format": "svg"})
    assert r.headers["content-type"].startswith("image/svg+xml")
    r = await doctor.post("/Patient/lea/$bmi-chart", headers={"Accept": "image/svg+xml"})
    assert r.status_code == 200, r.text
    assert len(svg_points(r.content)) == len(POINTS)


async def test_a_fhir_format_is_not_acceptable(doctor: httpx.AsyncClient) -> None:
    r = await doctor.get("/Patient/lea/$bmi-chart", headers={"Accept": "application/fhir+json"})
    assert r.status_code == 406, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert msg_ids(r.json()) == ["MRTC-BIO-022"]
    # Other requests still negotiate as before.
    r = await doctor.get("/Patient/lea", headers={"Accept": "image/png"})
    assert r.status_code == 406


async def test_a_caller_who_cannot_read_the_record_gets_404(outsider: httpx.AsyncClient) -> None:
    r = await outsider.get("/Patient/lea/$bmi-chart", headers={"Accept": "image/svg+xml"})
    assert r.status_code == 404, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    r = await outsider.get("/Patient/unknown/$bmi-chart")
    assert r.status_code == 404


async def test_the_chart_is_audited(doctor: httpx.AsyncClient, system: httpx.AsyncClient) -> None:
    def count(bundle: dict[str, object]) -> int:
        return len(bundle.get("entry", []))  # type: ignore[arg-type]

    query = {"agent": "Practitioner/doc", "entity": "Patient/lea", "_count": "200"}
    before = count((await system.get("/AuditEvent", params=query)).json())
    r = await doctor.get("/Patient/lea/$bmi-chart", headers={"Accept": "image/svg+xml"})
    assert r.status_code == 200
    events = (await system.get("/AuditEvent", params=query)).json()
    assert count(events) == before + 1
    newest = max(events["entry"], key=lambda e: e["resource"]["recorded"])["resource"]
    assert "bmi-chart" in str(newest)


async def test_without_sex_no_curves_can_be_drawn(doctor: httpx.AsyncClient) -> None:
    created = await doctor.post(
        "/Patient", json={"resourceType": "Patient", "birthDate": "2017-01-01"}
    )
    assert created.status_code == 201, created.text
    r = await doctor.get(f"/Patient/{created.json()['id']}/$bmi-chart")
    assert r.status_code == 422, r.text
    assert msg_ids(r.json()) == ["MRTC-BIO-020"]


async def test_the_operation_is_advertised(doctor: httpx.AsyncClient) -> None:
    statement = (await doctor.get("/metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {
        "name": "bmi-chart",
        "definition": "https://mrtc.example.org/fhir/OperationDefinition/Patient-bmi-chart",
    } in patient["operation"]
