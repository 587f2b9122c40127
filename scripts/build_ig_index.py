#!/usr/bin/env python3
"""Generate ig/index.json, the list of the implementation guide's resources.

The server loads ig/ through this index. Run after adding, removing or editing a file in ig/:

    python scripts/build_ig_index.py          # rewrite ig/index.json
    python scripts/build_ig_index.py --check  # exit 1 if ig/index.json is not current

Each file holds one FHIR R4 resource named ``<ResourceType>-<id>.json``; the index records, per
file, what a loader needs without opening it: resourceType, id, canonical url and version,
name, the StructureDefinition kind/type/baseDefinition/derivation, whether it is an example and
the profiles it claims.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IG_DIR = ROOT / "ig"
INDEX_NAME = "index.json"
CANONICAL_BASE = "https://mrtc.example.org/fhir"

# Conformance resources the server serves read-only from ig/ (everything else is an example).
CONFORMANCE_TYPES = {
    "ActivityDefinition",
    "Binary",  # templates users download (the consent form)
    "CodeSystem",
    "ConceptMap",
    "ImplementationGuide",
    "OperationDefinition",
    "PlanDefinition",
    "Questionnaire",
    "SearchParameter",
    "StructureDefinition",
    "ValueSet",
}


class IndexError_(ValueError):
    """A file of ig/ cannot be indexed."""


def _entry(path: Path) -> dict[str, Any]:
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IndexError_(f"{path.name}: not valid JSON ({exc})") from exc
    rtype, rid = res.get("resourceType"), res.get("id")
    if not rtype or not rid:
        raise IndexError_(f"{path.name}: resourceType and id are required")
    if path.name != f"{rtype}-{rid}.json":
        raise IndexError_(f"{path.name}: file name must be {rtype}-{rid}.json")
    entry: dict[str, Any] = {"file": path.name, "resourceType": rtype, "id": rid}
    for key in ("url", "version", "name"):
        if key in res:
            entry[key] = res[key]
    if rtype == "StructureDefinition":
        for key in ("kind", "type", "baseDefinition", "derivation"):
            entry[key] = res.get(key)
    elif rtype == "SearchParameter":
        entry["code"] = res.get("code")
        entry["base"] = res.get("base")
        entry["type"] = res.get("type")
    elif rtype == "OperationDefinition":
        entry["code"] = res.get("code")
        entry["resource"] = res.get("resource")
    elif rtype in ("CodeSystem", "ValueSet"):
        pass
    entry["conformance"] = rtype in CONFORMANCE_TYPES
    entry["example"] = rid.startswith("example-")
    profiles = res.get("meta", {}).get("profile")
    if profiles:
        entry["profiles"] = profiles
    return entry


def build_index(ig_dir: Path = IG_DIR) -> dict[str, Any]:
    files = sorted(p for p in ig_dir.glob("*.json") if p.name != INDEX_NAME)
    entries = [_entry(p) for p in files]
    urls: dict[str, str] = {}
    for e in entries:
        if "url" in e and e["conformance"]:
            if e["url"] in urls:
                raise IndexError_(f"{e['file']}: url {e['url']} already used by {urls[e['url']]}")
            urls[e["url"]] = e["file"]
    return {
        "canonicalBase": CANONICAL_BASE,
        "fhirVersion": "4.0.1",
        "count": len(entries),
        "files": entries,
    }


def render(index: dict[str, Any]) -> str:
    return json.dumps(index, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if ig/index.json is not current")
    parser.add_argument("--ig", type=Path, default=IG_DIR, help="implementation guide folder")
    args = parser.parse_args(argv)
    text = render(build_index(args.ig))
    target = args.ig / INDEX_NAME
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is not current: run python scripts/build_ig_index.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(json.loads(text)['files'])} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
