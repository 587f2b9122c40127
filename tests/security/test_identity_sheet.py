"""$identity-sheet: a real PDF whose text holds the traits; audited; closed to the others."""

from __future__ import annotations

import base64
import io

import pytest
from pypdf import PdfReader

from tests.conftest import AppClient
from tests.resources.identity._patients import MODE, mrtc_patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_identity_sheet_pdf_holds_the_traits_and_is_audited(world: AppClient) -> None:
    body = mrtc_patient(
        "D'ARTAGNAN",
        "Hélène",
        "2014-11-30",
        status="VALI",
        document=(MODE, "CN"),
        validated="2026-02-01",
        birth_list="Hélène Françoise",
        usual=("MARTIN", "Léna"),
        rank=2,
        attributes=("HOMA",),
        telecom=[{"system": "phone", "value": "06 11 22 33 44", "use": "mobile"}],
        address=[{"line": ["3 place du Marché"], "postalCode": "13001", "city": "Marseille"}],
    )
    async with world.client_for("PractitionerRole/msp-account") as msp:
        created = await msp.post("/Patient", json=body)
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
    async with world.client_for("Practitioner/coord") as coord:  # not habilitated
        assert (await coord.get(f"/Patient/{pid}/$identity-sheet")).status_code == 404
    async with world.client_for("PractitionerRole/msp-account") as msp:
        r = await msp.get(f"/Patient/{pid}/$identity-sheet")
        assert r.status_code == 200, r.text
        binary = r.json()
        assert binary["resourceType"] == "Binary"
        assert binary["contentType"] == "application/pdf"
        pdf = base64.b64decode(binary["data"])
        assert pdf.startswith(b"%PDF-")
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        for expected in (
            "Fiche d'identité du patient",
            "D'ARTAGNAN",
            "Hélène Françoise",
            "30/11/2014",
            "Féminin",
            "13055",
            "MARTIN",
            "Léna",
            "Identité validée",
            "homonyme",
            "Carte nationale d'identité",
            "+33611223344",
            "3 place du Marché 13001 Marseille",
            "Exportée le",
        ):
            assert expected in text, (expected, text)
        feed = (await msp.get("/AuditEvent", params={"patient": f"Patient/{pid}"})).json()
    subtypes = [
        c.get("code") for e in feed.get("entry", []) for c in e["resource"].get("subtype", [])
    ]
    assert "identity-sheet" in subtypes  # the export is in the record's audit trail


async def test_the_consent_form_template_is_downloadable_by_everyone(world: AppClient) -> None:
    async with world.client_for("Practitioner/other") as anyone:
        r = await anyone.get("/Binary/mrtc-consent-form")
        assert r.status_code == 200, r.text
        binary = r.json()
        assert binary["contentType"] == "application/pdf"
        pdf = base64.b64decode(binary["data"])
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert "Formulaire de consentement" in text
        assert "titulaire de l'autorité parentale" in text
        # part of the implementation guide: read-only
        changed = await anyone.put("/Binary/mrtc-consent-form", json={**binary, "data": "AA=="})
        assert changed.status_code in (403, 405)
