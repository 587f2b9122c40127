"""Regenerate fhir_server/data/resource-types.json from the FHIR R4 definitions.

Supported types are the R4 resource types (non-abstract, kind=resource) that
``fhir.resources.R4B`` models, since those models validate request bodies.
Usage: python scripts/gen_resource_types.py [path/to/profiles-resources.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared/reference/data/fhir-r4/profiles-resources.json"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    bundle = json.loads(source.read_text())
    r4_types = sorted(
        {
            e["resource"]["type"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "StructureDefinition"
            and e["resource"].get("kind") == "resource"
            and e["resource"].get("derivation") == "specialization"
            and not e["resource"].get("abstract")
        }
    )
    supported = []
    for name in r4_types:
        try:
            model = get_fhir_model_class(name)
        except ValueError:
            continue
        if issubclass(model, Resource):
            supported.append(name)
    out = ROOT / "fhir_server/data/resource-types.json"
    out.write_text(json.dumps({"fhirVersion": "4.0.1", "types": supported}, indent=1) + "\n")
    print(f"{len(supported)} of {len(r4_types)} R4 resource types written to {out}")


if __name__ == "__main__":
    main()
