"""The identity sheet of a record as a PDF (« fiche d'identité ... exportée en PDF »).

Rendered with fpdf2 (pure Python, maintained) in its core Helvetica font, so
no font file has to ship: its Latin-1 repertoire holds French (é, è, à, ç,
ô, ë, « »); the few characters outside it (curly quote, oe ligature) are written with their
plain equivalents. The sheet holds the five strict traits, the used names,
the birth given names, the twin rank, the identity status and attributes
with the document seen, the identifiers, the contact details, the export
date and who exported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fpdf import FPDF

from fhir_server.resources.identity.traits import identity_of

STATUS_LABELS = {
    "PROV": "Identité provisoire",
    "VALI": "Identité validée",
    "RECUP": "Identité récupérée",
    "QUAL": "Identité qualifiée",
}
ATTRIBUTE_LABELS = {"HOMA": "homonyme", "DOUT": "douteuse", "FICT": "fictive"}
GENDER_LABELS = {"male": "Masculin", "female": "Féminin", "unknown": "Inconnu"}
DOCUMENT_LABELS = {
    "CN": "Carte nationale d'identité",
    "PA": "Passeport",
    "LE": "Livret de famille",
    "AN": "Extrait d'acte de naissance",
    "CS": "Titre de séjour",
    "PC": "Permis de conduire",
    "CV": "Carte Vitale",
}
_REPLACEMENTS = {
    "\u2019": "'",
    "\u2018": "'",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
}


def latin1(text: str) -> str:
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    return text.encode("latin-1", "replace").decode("latin-1")


def _french_date(value: str | None) -> str:
    if not value:
        return "-"
    parts = value.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else value


def rows(patient: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The sheet's lines: (label, value), in the booklet's order."""
    identity = identity_of(patient)
    out = [
        ("Nom de naissance", identity.family or "-"),
        ("Premier prénom de naissance", identity.given or "-"),
        ("Prénom(s) de naissance", identity.birth_given_names or "-"),
        ("Date de naissance", _french_date(identity.birth_date)),
        ("Sexe", GENDER_LABELS.get(identity.gender or "", identity.gender or "-")),
        ("Code du lieu de naissance (INSEE)", identity.birth_place or "-"),
        ("Nom utilisé", identity.used_family or "-"),
        ("Prénom utilisé", identity.used_given or "-"),
        ("Rang gémellaire", str(identity.rank) if identity.rank is not None else "-"),
        ("Statut de l'identité", STATUS_LABELS.get(identity.status or "", identity.status or "-")),
        (
            "Attributs",
            ", ".join(ATTRIBUTE_LABELS.get(a, a) for a in sorted(identity.attributes)) or "aucun",
        ),
        (
            "Pièce d'identité",
            DOCUMENT_LABELS.get(identity.validation_mode[1], identity.validation_mode[1])
            if identity.validation_mode
            else "aucune",
        ),
        ("Date de vérification", _french_date(identity.validation_date)),
    ]
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            kind = ((ident.get("type") or {}).get("coding") or [{}])[0].get("code") or "Identifiant"
            out.append((f"Identifiant ({kind})", ident["value"]))
    for point in patient.get("telecom") or []:
        if isinstance(point, dict) and isinstance(point.get("value"), str):
            label = {"phone": "Téléphone", "sms": "Mobile (SMS)", "email": "E-mail"}.get(
                str(point.get("system")), "Contact"
            )
            if point.get("use") == "mobile":
                label = "Mobile"
            out.append((label, point["value"]))
    for address in patient.get("address") or []:
        if isinstance(address, dict):
            text = " ".join(
                [
                    *(address.get("line") or []),
                    address.get("postalCode") or "",
                    address.get("city") or "",
                ]
            ).strip()
            if text:
                out.append(("Adresse", text))
    return out


def identity_sheet(patient: Mapping[str, Any], author: str, exported: datetime) -> bytes:
    """The PDF of ``patient``'s identity sheet, exported by ``author`` at ``exported``."""
    pdf = FPDF(format="A4")
    pdf.set_title(latin1("Fiche d'identité du patient"))
    pdf.set_author(latin1(author))
    pdf.set_creator("MRTC FHIR server")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, latin1("Fiche d'identité du patient"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(
        0,
        6,
        latin1(f"Dossier Patient/{patient.get('id', '')}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    for label, value in rows(patient):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(70, 7, latin1(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 7, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 9)
    stamp = exported.strftime("%d/%m/%Y à %H:%M (UTC)")
    pdf.multi_cell(0, 6, latin1(f"Exportée le {stamp} par {author}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
