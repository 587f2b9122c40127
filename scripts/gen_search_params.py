"""Regenerate ``fhir_server/data/search-parameters.json.gz`` from the FHIR R4 definitions.

The server must run without the specification folder, so this script copies
into the repository the base SearchParameter definitions of the supported
resource types (the R4 resource types that ``fhir.resources.R4B`` models),
trimmed to the fields search needs, and gzip-compresses them.

Usage::

    python scripts/gen_search_params.py [--spec DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
from pathlib import Path
from typing import Any

DEFAULT_SPEC = Path("/work/shared/reference/data/fhir-r4")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "fhir_server/data/search-parameters.json.gz"
KEPT_FIELDS = (
    "url",
    "code",
    "base",
    "type",
    "expression",
    "target",
    "component",
    "modifier",
    "comparator",
    "multipleOr",
    "multipleAnd",
    "chain",
    "description",
)


def supported_types(spec: Path) -> list[str]:
    """R4 concrete resource types that ``fhir.resources.R4B`` can model."""
    try:
        from fhir_server.resource_types import SUPPORTED_TYPES  # the lead's list, when present

        return sorted(SUPPORTED_TYPES)
    except ImportError:
        pass
    r4b = importlib.import_module("fhir.resources.R4B")
    resource_cls = importlib.import_module("fhir.resources.R4B.resource").Resource
    bundle = json.loads((spec / "profiles-resources.json").read_text(encoding="utf-8"))
    out = []
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource":
            continue
        if sd.get("abstract") or sd.get("derivation") == "constraint":
            continue
        try:
            cls = r4b.get_fhir_model_class(sd["type"])
        except (KeyError, ValueError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, resource_cls):
            out.append(sd["type"])
    return sorted(set(out))


def summary_elements(spec: Path, types: set[str]) -> dict[str, list[str]]:
    """Top-level elements flagged ``isSummary`` per type, for ``_summary=true``.

    Choice elements are stored without ``[x]`` (``value``) and matched by prefix
    against the JSON names (``valueQuantity``).
    """
    bundle = json.loads((spec / "profiles-resources.json").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("type") not in types:
            continue
        if sd.get("derivation") == "constraint":
            continue
        names = []
        for el in sd.get("snapshot", {}).get("element", []):
            parts = el["path"].split(".")
            if len(parts) == 2 and el.get("isSummary"):
                names.append(parts[1].removesuffix("[x]"))
        out[sd["type"]] = sorted(set(names))
    return out


def trim(sp: dict[str, Any], types: set[str]) -> dict[str, Any] | None:
    """Keep one definition when it applies to a supported type (or to every resource)."""
    bases = [b for b in sp.get("base", []) if b in types or b in ("Resource", "DomainResource")]
    if not bases:
        return None
    out = {k: sp[k] for k in KEPT_FIELDS if k in sp}
    out["base"] = bases
    if "target" in out:
        out["target"] = [t for t in out["target"] if t in types]
    if "description" in out:
        out["description"] = out["description"].split("\r\n")[0][:300]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    types = set(supported_types(args.spec))
    bundle = json.loads((args.spec / "search-parameters.json").read_text(encoding="utf-8"))
    params = []
    for entry in bundle["entry"]:
        kept = trim(entry["resource"], types)
        if kept is not None:
            params.append(kept)
    payload = {
        "fhirVersion": "4.0.1",
        "types": sorted(types),
        "parameters": params,
        "summary": summary_elements(args.spec, types),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # mtime=0 keeps the file byte-identical between runs (no spurious diffs).
    args.out.write_bytes(gzip.compress(raw.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{len(params)} search parameters for {len(types)} types -> {args.out}")


if __name__ == "__main__":
    main()
