"""Write ig/Binary-mrtc-consent-form.json: the consent form template, as a PDF in a Binary.

The booklet: « Le document de consentement est accessible en cliquant dessus
pour le télécharger ». The template is part of the implementation guide (a
served, read-only Binary without securityContext, so every user may download
it); this script renders it with the server's own PDF library, so that
changing its wording is a reviewed change of this file, then `make ig`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fpdf import FPDF

from fhir_server.resources.identity.sheet import latin1

OUT = Path(__file__).resolve().parents[1] / "ig" / "Binary-mrtc-consent-form.json"

PARAGRAPHS = [
    "Parcours MRTC - Mission : retrouve ton cap",
    "Je soussigné(e) ...................................................................",
    "agissant en qualité de : [ ] l'usager/patient lui-même   [ ] le titulaire de "
    "l'autorité parentale   [ ] le tuteur légal   [ ] le curateur   [ ] la personne de "
    "confiance   [ ] une autre personne (à préciser) : ..................................",
    "consens à la prise en charge coordonnée de l'enfant :",
    "Nom de naissance : ..........................  Premier prénom de naissance : ..........",
    "Date de naissance : ....../....../..........  Sexe : ......  Lieu de naissance : ..........",
    "et au partage des informations strictement nécessaires à cette prise en charge entre "
    "les professionnels de son cercle de soins, sur la plateforme régionale de coordination.",
    "Ce consentement peut être retiré à tout moment ; la raison du retrait est alors enregistrée.",
    "Consentement recueilli par (nom, fonction, structure) : ................................",
    "Fait le ....../....../..........   à ..........................",
    "Signature :",
]


def render() -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(latin1("Formulaire de consentement - parcours MRTC"))
    pdf.set_creator("MRTC FHIR server")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, latin1("Formulaire de consentement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for text in PARAGRAPHS:
        pdf.ln(3)
        pdf.multi_cell(0, 6, latin1(text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def main() -> None:
    binary = {
        "resourceType": "Binary",
        "id": "mrtc-consent-form",
        "contentType": "application/pdf",
        "data": base64.b64encode(render()).decode("ascii"),
    }
    OUT.write_text(json.dumps(binary, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
