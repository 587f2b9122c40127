#!/usr/bin/env python3
"""Generate the local (mock ROR) directory: fictional PACA professionals and units.

Run once; the output is committed as package data and read by
``fhir_server.directory.local``:

    python scripts/gen_local_directory.py   # writes fhir_server/data/directory/paca.json

The people are fictional (random first and last names, accents included so
that "Raphaël", "Thérèse" and "Anaïs" exist to search for); what is real is
the shape: a FHIR ``Bundle`` of ``Organization`` (establishments and their
units, FINESS-shaped identifiers with the department prefix), ``Practitioner``
(idNat_PS "8" + an 11-digit RPPS-shaped number) and ``PractitionerRole``
(profession from TRE_G15 / TRE_R95 / TRE_R85, specialty from TRE_R38 for
doctors, phone, MSSanté-shaped e-mail, free-text description), as the ROR's
PractitionerRole search with ``_include`` answers. The random generator is
seeded: running the script again writes the same file.
"""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "fhir_server" / "data" / "directory" / "paca.json"
SEED = 20261202

G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R95 = "https://mos.esante.gouv.fr/NOS/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre"
R85 = "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
R38 = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
IDNAT = "urn:oid:1.2.250.1.71.4.2.1"
RPPS = "https://rpps.esante.gouv.fr"
FINESS = "http://finess.sante.gouv.fr"
DESCRIPTION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-member-description"
REGION_TAG = {
    "system": "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM",
    "code": "93",
    "display": "Provence-Alpes-Côte d'Azur",
}
ORG_TYPE = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
UNIT_TYPE = {
    "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-directory-kind",
    "code": "unit",
}

# (city, postal code, department)
CITIES = [
    ("Marseille", "13005", "13"),
    ("Nice", "06000", "06"),
    ("Toulon", "83000", "83"),
    ("Aix-en-Provence", "13100", "13"),
    ("Avignon", "84000", "84"),
    ("Antibes", "06600", "06"),
    ("Cannes", "06400", "06"),
    ("La Seyne-sur-Mer", "83500", "83"),
    ("Hyères", "83400", "83"),
    ("Fréjus", "83600", "83"),
    ("Arles", "13200", "13"),
    ("Grasse", "06130", "06"),
    ("Gap", "05000", "05"),
    ("Digne-les-Bains", "04000", "04"),
    ("Manosque", "04100", "04"),
    ("Salon-de-Provence", "13300", "13"),
    ("Martigues", "13500", "13"),
    ("Aubagne", "13400", "13"),
    ("Draguignan", "83300", "83"),
    ("Menton", "06500", "06"),
    ("Carpentras", "84200", "84"),
    ("Orange", "84100", "84"),
    ("Briançon", "05100", "05"),
    ("Cavaillon", "84300", "84"),
]
ESTABLISHMENTS = [
    ("Centre hospitalier", "355", "Centre Hospitalier"),
    ("Maison de santé pluriprofessionnelle", "603", "MSP"),
    ("Centre de santé", "124", "Centre de santé"),
]
UNITS = {
    "Centre hospitalier": [
        "Service de pédiatrie",
        "Consultation obésité de l'enfant",
        "Diététique",
    ],
    "Maison de santé pluriprofessionnelle": ["Pôle enfants", "Pôle nutrition"],
    "Centre de santé": ["Consultations enfants", "Éducation thérapeutique"],
}
MSP_NAMES = [
    "Cap Sud",
    "Les Oliviers",
    "Mistral",
    "Les Calanques",
    "Sainte-Victoire",
    "Lavande",
    "Le Vieux Port",
    "Les Alpilles",
    "Durance",
    "Le Lubéron",
    "Estérel",
    "Les Cigales",
]
FAMILIES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Müller",
    "Lefebvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
    "Guillaume",
    "Lecomte",
    "Lopez",
    "Jean",
    "Dupuy",
    "Guillot",
    "Hubert",
    "Berger",
    "Carpentier",
    "Sánchez",
    "Dupuis",
    "Moulin",
    "Louis",
    "Deschamps",
    "Huet",
    "Vasseur",
    "Perez",
    "Boucher",
    "Fleury",
    "Royer",
    "Klein",
    "Jacquet",
    "Adam",
    "Paris",
    "Poirier",
    "Marty",
    "Aubry",
    "Guyot",
    "Carré",
    "Charles",
    "Renault",
    "Charpentier",
    "Ménard",
    "Maillard",
    "Baron",
    "Bertin",
    "Bailly",
    "Hervé",
    "Schneider",
    "Fernandez",
    "Le Gall",
    "Collet",
    "Léger",
    "Bouvier",
    "Julien",
    "Prévost",
    "Millet",
    "Perrot",
    "Daniel",
    "Le Roux",
    "Cousin",
    "Germain",
    "Breton",
    "Besson",
    "Langlois",
    "Rémy",
    "Le Goff",
    "Pelletier",
    "Lévêque",
    "Perrier",
    "Leblanc",
    "Barré",
    "Lebrun",
    "Marchal",
    "Weber",
    "Mallet",
    "Hamon",
    "Boulanger",
    "Jacob",
    "Monnier",
    "Michaud",
    "Rodriguez",
    "Guichard",
    "Gillet",
    "Étienne",
    "Grondin",
    "Poulain",
    "Tessier",
    "Chevallier",
    "Collin",
    "Chauvin",
    "Da Silva",
    "Bouchet",
    "Gay",
    "Lemaître",
    "Bénard",
    "Maréchal",
    "Humbert",
    "Reynaud",
    "Antoine",
    "Hoarau",
    "Perret",
    "Barthélemy",
    "Cordier",
    "Pichon",
    "Lejeune",
    "Gilbert",
    "Lamy",
    "Delaunay",
    "Pasquier",
    "Carlier",
    "Laporte",
    "Touati",
    "Nguyen",
    "Benali",
    "Haddad",
    "Cohen",
    "Ferrand",
    "Gréco",
]
GIVEN_F = [
    "Thérèse",
    "Anaïs",
    "Noémie",
    "Zoé",
    "Hélène",
    "Cécile",
    "Béatrice",
    "Léa",
    "Chloé",
    "Inès",
    "Maëlle",
    "Agnès",
    "Émilie",
    "Clémence",
    "Mélanie",
    "Sophie",
    "Camille",
    "Julie",
    "Manon",
    "Lucie",
    "Sarah",
    "Aurélie",
    "Céline",
    "Nathalie",
    "Isabelle",
    "Faïka",
    "Gaëlle",
    "Joëlle",
    "Françoise",
    "Valérie",
    "Élodie",
    "Laure",
    "Estelle",
    "Océane",
]
GIVEN_M = [
    "Raphaël",
    "Loïc",
    "Gaël",
    "Jérôme",
    "François",
    "Maël",
    "Joël",
    "Noël",
    "Hugo",
    "Julien",
    "Thomas",
    "Nicolas",
    "Antoine",
    "Mathieu",
    "Sébastien",
    "Frédéric",
    "Benoît",
    "Rémi",
    "Stéphane",
    "Cédric",
    "Aurélien",
    "Grégoire",
    "Théo",
    "Lucas",
    "Paul",
    "Ismaël",
    "Anthony",
    "Karim",
    "Yannick",
    "Hervé",
    "Clément",
    "Éric",
    "Olivier",
    "Pierre",
]
# (system, code, display, weight, R38 specialties or None)
PROFESSIONS = [
    (
        G15,
        "10",
        "Médecin",
        30,
        [
            ("SM54", "Médecine générale"),
            ("SM40", "Pédiatrie"),
            ("SM62", "Endocrinologie-diabétologie-nutrition"),
        ],
    ),
    (G15, "60", "Infirmier", 14, None),
    (G15, "70", "Masseur-kinésithérapeute", 10, None),
    (G15, "95", "Diététicien", 16, None),
    (R95, "93", "Psychologue", 14, None),
    (R85, "361", "Educateur en activité physique adaptée", 10, None),
    (G15, "91", "Orthophoniste", 4, None),
    (G15, "96", "Psychomotricien", 2, None),
]
STREETS = ["Jean Jaurès", "de la République", "Frédéric Mistral", "du Prado", "des Lices"]
DESCRIPTIONS = [
    "Consultations sur rendez-vous du lundi au vendredi.",
    "Prise en charge pédiatrique ; parcours MRTC.",
    "Ateliers collectifs pour les enfants et leurs parents le mercredi.",
    "Téléconsultation possible. Accès PMR.",
    "Secrétariat joignable le matin de 9 h à 12 h.",
    "Suivi des enfants en surpoids, en lien avec la MSP.",
    "Interventions à domicile sur le secteur.",
    "",
]


def slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def phone(rng: random.Random, dept: str) -> str:
    """A PACA landline number (04), fictional."""
    digits = [rng.randint(90, 94), *(rng.randint(0, 99) for _ in range(3))]
    return "04 " + " ".join(f"{d:02d}" for d in digits)


def meta() -> dict[str, Any]:
    return {"tag": [REGION_TAG]}


def description(text: str) -> list[dict[str, Any]]:
    return [{"url": DESCRIPTION, "valueString": text}] if text else []


def generate() -> dict[str, Any]:
    rng = random.Random(SEED)
    resources: list[dict[str, Any]] = []
    units: list[dict[str, Any]] = []
    finess_seen: set[str] = set()

    def finess(dept: str) -> str:
        while True:
            value = f"{dept}{rng.randint(0, 9999999):07d}"
            if value not in finess_seen:
                finess_seen.add(value)
                return value

    msp_names = iter(MSP_NAMES * 3)
    for city, postal, dept in CITIES:
        kinds = (
            ESTABLISHMENTS
            if city in ("Marseille", "Nice", "Toulon", "Avignon", "Aix-en-Provence")
            else rng.sample(ESTABLISHMENTS, 2)
        )
        for label, category, short in kinds:
            number = finess(dept)
            name = f"{short} {next(msp_names)}" if short == "MSP" else f"{short} de {city}"
            org_id = f"eg-{number}"
            address = [
                {
                    "line": [f"{rng.randint(1, 120)} avenue {rng.choice(STREETS)}"],
                    "city": city,
                    "postalCode": postal,
                    "country": "FR",
                }
            ]
            resources.append(
                {
                    "resourceType": "Organization",
                    "id": org_id,
                    "meta": meta(),
                    "identifier": [{"system": FINESS, "value": number}],
                    "active": True,
                    "type": [
                        {"coding": [{"system": ORG_TYPE, "code": category, "display": label}]}
                    ],
                    "name": name,
                    "telecom": [{"system": "phone", "value": phone(rng, dept)}],
                    "address": address,
                }
            )
            for unit_name in UNITS[label]:
                unit_number = finess(dept)
                unit = {
                    "resourceType": "Organization",
                    "id": f"unit-{unit_number}",
                    "meta": meta(),
                    "extension": description(rng.choice(DESCRIPTIONS)),
                    "identifier": [{"system": FINESS, "value": unit_number}],
                    "active": True,
                    "type": [{"coding": [UNIT_TYPE]}],
                    "name": f"{unit_name} - {name}",
                    "telecom": [{"system": "phone", "value": phone(rng, dept)}],
                    "address": address,
                    "partOf": {"reference": f"Organization/{org_id}", "display": name},
                }
                if not unit["extension"]:
                    del unit["extension"]
                resources.append(unit)
                units.append(unit)

    weights = [p[3] for p in PROFESSIONS]
    rpps_seen: set[str] = set()
    for index in range(330):
        female = rng.random() < 0.6
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        family = rng.choice(FAMILIES)
        if index == 0:
            given, family, female = "Thérèse", "Lefèvre", True
        if index == 1:
            given, family, female = "Raphaël", "Müller", False
        while True:
            rpps = f"10{rng.randint(0, 999999999):09d}"
            if rpps not in rpps_seen:
                rpps_seen.add(rpps)
                break
        system, code, display, _, specialties = rng.choices(PROFESSIONS, weights)[0]
        if index in (0, 1):
            system, code, display, specialties = (
                G15,
                "95" if index == 0 else "10",
                "Diététicien" if index == 0 else "Médecin",
                None if index == 0 else PROFESSIONS[0][4],
            )
        unit = rng.choice(units)
        dept = unit["identifier"][0]["value"][:2]
        pid = f"pr-{rpps}"
        resources.append(
            {
                "resourceType": "Practitioner",
                "id": pid,
                "meta": meta(),
                "identifier": [
                    {"system": IDNAT, "value": f"8{rpps}"},
                    {"system": RPPS, "value": rpps},
                ],
                "active": True,
                "name": [
                    {"family": family, "given": [given], "prefix": ["MME" if female else "M"]}
                ],
                "gender": "female" if female else "male",
            }
        )
        roles = [unit] if rng.random() > 0.1 else [unit, rng.choice(units)]
        for n, place in enumerate(roles):
            role: dict[str, Any] = {
                "resourceType": "PractitionerRole",
                "id": f"role-{rpps}-{n + 1}",
                "meta": meta(),
                "extension": description(rng.choice(DESCRIPTIONS)),
                "identifier": [
                    {"system": "https://mrtc.example.org/ror/role", "value": f"{rpps}-{n + 1}"}
                ],
                "active": True,
                "practitioner": {
                    "reference": f"Practitioner/{pid}",
                    "display": f"{family.upper()} {given}",
                },
                "organization": {
                    "reference": f"Organization/{place['id']}",
                    "display": place["name"],
                },
                "code": [{"coding": [{"system": system, "code": code, "display": display}]}],
                "telecom": [
                    {"system": "phone", "value": phone(rng, dept)},
                    {"system": "email", "value": f"{slug(given)}.{slug(family)}@{dept}.mssante.fr"},
                ],
            }
            if not role["extension"]:
                del role["extension"]
            if specialties:
                s_code, s_display = rng.choice(specialties)
                role["specialty"] = [
                    {"coding": [{"system": R38, "code": s_code, "display": s_display}]}
                ]
            resources.append(role)
    return {
        "resourceType": "Bundle",
        "id": "mrtc-local-directory-paca",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"https://ror.mock.mrtc.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
            }
            for r in resources
        ],
    }


def main() -> None:
    bundle = generate()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in bundle.items() if k != "entry"}
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in bundle["entry"]]
    text = (
        json.dumps(head, ensure_ascii=False)[:-1] + ', "entry": [\n' + ",\n".join(lines) + "\n]}\n"
    )
    OUT.write_text(text, encoding="utf-8")  # one entry per line: reviewable diffs
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        counts[entry["resource"]["resourceType"]] = (
            counts.get(entry["resource"]["resourceType"], 0) + 1
        )
    print(OUT, counts)


if __name__ == "__main__":
    main()
