"""Copy the subset of the FHIR R4 definitions the profile validator needs.

The server must start without the 50 MB of official definition bundles, so this
script reduces them to what ``fhir_server.profiles`` actually reads and writes
compressed bundles into ``fhir_server/data/fhir-r4/``:

* ``structuredefinitions.json.gz`` - every resource and data-type
  StructureDefinition with its snapshot reduced to the fields the validators
  read (path, min, max, maxLength, type codes/profiles/targetProfiles and the
  fhir-type/regex of primitive values, contentReference, required/extensible
  bindings, fixed/pattern values, constraints) and the ``representation`` the
  XML format reads (which elements are XML attributes);
* ``extensions.json.gz`` - the core extension definitions (differential only,
  same reduction) that the IG in ``ig/`` uses, plus a few common ones;
* ``terminology.json.gz`` - the core ValueSets bound *required* anywhere in
  those snapshots or referenced by the IG, with the CodeSystems they draw on.

Run from the repository root after changing the IG:

    python scripts/gen_fhir_definitions.py [--source /path/to/fhir-r4] [--ig ig]
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = Path("/work/shared/reference/data/fhir-r4")
OUT_DIR = ROOT / "fhir_server" / "data" / "fhir-r4"

# Core extensions worth having even when the IG does not (yet) reference them:
# the usual suspects of French and international patient profiles.
DEFAULT_EXTENSIONS = {
    "patient-birthPlace",
    "patient-nationality",
    "patient-citizenship",
    "patient-birthTime",
    "patient-mothersMaidenName",
    "humanname-assembly-order",
    "humanname-own-name",
    "humanname-own-prefix",
    "data-absent-reason",
    "iso21090-nullFlavor",
    "iso21090-EN-use",
    "iso21090-EN-qualifier",
    "iso21090-ADXP-houseNumber",
    "iso21090-ADXP-streetName",
    "iso21090-ADXP-censusTract",
    "iso21090-SC-coding",
    "originalText",
    "narrativeLink",
    "questionnaire-itemControl",
    "questionnaire-unit",
    "questionnaire-hidden",
    "questionnaire-initialExpression",
    "questionnaire-calculatedExpression",
    "variable",
    "cqf-expression",
    "cqf-library",
    "structuredefinition-fmm",
    "structuredefinition-standards-status",
    "workflow-episodeOfCare",
    "consent-Witness",
    "consent-NotificationEndpoint",
    "consent-Transcriber",
    "careteam-alias",
    "event-basedOn",
    "relatedperson-identifier",
    "practitionerrole-primaryInd",
    "organization-period",
    "organization-preferredContact",
    "task-replaces",
    "geolocation",
    "birthPlace",
}

ELEMENT_KEEP = (
    "id",
    "path",
    "sliceName",
    "min",
    "max",
    "maxLength",
    "contentReference",
    "representation",
)
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"


def reduce_element(element: dict[str, Any]) -> dict[str, Any]:
    """Keep only what the validator reads from one ElementDefinition."""
    out = {k: element[k] for k in ELEMENT_KEEP if k in element}
    if "slicing" in element:
        out["slicing"] = {
            k: element["slicing"][k]
            for k in ("discriminator", "rules", "ordered")
            if k in element["slicing"]
        }
    if "type" in element:
        types = []
        for t in element["type"]:
            rt = {"code": t["code"]}
            for k in ("profile", "targetProfile"):
                if t.get(k):
                    rt[k] = t[k]
            # The JSON rules of the primitive types (profiles/elements.py): the FHIR type
            # behind a FHIRPath System.* code (Element.id, Extension.url, X.value) and the
            # regex a primitive's value must match.
            for ext in t.get("extension", []):
                if ext.get("url") == FHIR_TYPE_EXT:
                    rt["fhirType"] = ext.get("valueUrl") or ext.get("valueString")
                elif ext.get("url") == REGEX_EXT:
                    rt["regex"] = ext["valueString"]
            types.append(rt)
        out["type"] = types
    binding = element.get("binding")
    if (
        binding
        and binding.get("valueSet")
        and binding.get("strength")
        in (
            "required",
            "extensible",
        )
    ):
        out["binding"] = {"strength": binding["strength"], "valueSet": binding["valueSet"]}
    for k, v in element.items():
        if k.startswith(("fixed", "pattern")):
            out[k] = v
    if element.get("constraint"):
        out["constraint"] = [
            {k: c[k] for k in ("key", "severity", "human", "expression") if k in c}
            for c in element["constraint"]
            if c.get("expression")
        ]
    return out


def reduce_sd(sd: dict[str, Any], *, snapshot: bool) -> dict[str, Any]:
    """A StructureDefinition reduced to its header and one reduced element list."""
    out = {
        k: sd[k]
        for k in (
            "resourceType",
            "id",
            "url",
            "version",
            "name",
            "status",
            "kind",
            "abstract",
            "type",
            "baseDefinition",
            "derivation",
            "context",
        )
        if k in sd
    }
    part = "snapshot" if snapshot else "differential"
    out[part] = {"element": [reduce_element(e) for e in sd[part]["element"]]}
    return out


def entries(path: Path) -> Iterator[dict[str, Any]]:
    bundle = orjson.loads(path.read_bytes())
    for entry in bundle.get("entry", []):
        yield entry["resource"]


def ig_resources(ig_dir: Path) -> list[dict[str, Any]]:
    out = []
    if ig_dir.is_dir():
        for p in sorted(ig_dir.rglob("*.json")):
            try:
                data = orjson.loads(p.read_bytes())
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict) and "resourceType" in data:
                out.append(data)
    return out


def canonical(url: str) -> str:
    return url.split("|", 1)[0]


def write_bundle(name: str, resources: Iterable[dict[str, Any]]) -> int:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    data = gzip.compress(orjson.dumps(bundle), compresslevel=9, mtime=0)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / name).write_bytes(data)
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--ig", type=Path, default=ROOT / "ig")
    args = parser.parse_args()
    src: Path = args.source

    sds: list[dict[str, Any]] = []
    for name in ("profiles-types.json", "profiles-resources.json"):
        for res in entries(src / name):
            if res["resourceType"] == "StructureDefinition" and res.get("snapshot"):
                if res.get("kind") == "logical":
                    continue
                sds.append(reduce_sd(res, snapshot=True))

    ig = ig_resources(args.ig)
    ig_text = orjson.dumps(ig).decode()

    core_ext_prefix = "http://hl7.org/fhir/StructureDefinition/"
    used = set(re.findall(re.escape(core_ext_prefix) + r"([A-Za-z0-9\-.]+)", ig_text))
    wanted_ext = DEFAULT_EXTENSIONS | used
    exts = [
        reduce_sd(res, snapshot=False)
        for res in entries(src / "extension-definitions.json")
        if res.get("id") in wanted_ext and res.get("differential")
    ]

    # Value sets: required bindings of the base snapshots and extensions, plus
    # any core value set the IG names.
    vs_urls: set[str] = set()
    for sd in [*sds, *exts]:
        part = sd.get("snapshot") or sd.get("differential") or {}
        for el in part.get("element", []):
            b = el.get("binding")
            if b and b["strength"] == "required":
                vs_urls.add(canonical(b["valueSet"]))
    vs_urls |= {
        canonical(u) for u in re.findall(r"http://hl7\.org/fhir/ValueSet/[A-Za-z0-9\-.]+", ig_text)
    }
    vs_urls |= {
        canonical(u)
        for u in re.findall(r"http://terminology\.hl7\.org/ValueSet/[A-Za-z0-9\-.]+", ig_text)
    }

    all_vs: dict[str, dict[str, Any]] = {}
    all_cs: dict[str, dict[str, Any]] = {}
    for res in entries(src / "valuesets.json"):
        if res["resourceType"] == "ValueSet":
            all_vs[res["url"]] = res
        elif res["resourceType"] == "CodeSystem":
            all_cs[res["url"]] = res

    # Close over valueSet imports.
    todo = [u for u in vs_urls if u in all_vs]
    picked: dict[str, dict[str, Any]] = {}
    while todo:
        url = todo.pop()
        if url in picked:
            continue
        picked[url] = all_vs[url]
        for part in ("include", "exclude"):
            for inc in all_vs[url].get("compose", {}).get(part, []):
                todo.extend(canonical(v) for v in inc.get("valueSet", []) if canonical(v) in all_vs)
    cs_urls = {
        inc["system"]
        for vs in picked.values()
        for part in ("include", "exclude")
        for inc in vs.get("compose", {}).get(part, [])
        if "system" in inc
    }
    cs_urls |= set(
        re.findall(
            r"\"system\":\"(http://(?:hl7\.org/fhir|terminology\.hl7\.org)[^\"]+)\"", ig_text
        )
    )
    keep_vs = ("resourceType", "id", "url", "version", "name", "title", "status", "compose")
    keep_cs = (
        "resourceType",
        "id",
        "url",
        "version",
        "name",
        "title",
        "status",
        "caseSensitive",
        "hierarchyMeaning",
        "content",
        "property",
        "concept",
    )
    # Sorted, so that regenerating from the same inputs gives identical bytes.
    terminology = [{k: picked[u][k] for k in keep_vs if k in picked[u]} for u in sorted(picked)]
    for url in sorted(cs_urls):
        cs = all_cs.get(url)
        if cs and cs.get("content") == "complete" and url != "http://snomed.info/sct":
            terminology.append({k: cs[k] for k in keep_cs if k in cs})

    sizes = {
        "structuredefinitions.json.gz": write_bundle("structuredefinitions.json.gz", sds),
        "extensions.json.gz": write_bundle("extensions.json.gz", exts),
        "terminology.json.gz": write_bundle("terminology.json.gz", terminology),
    }
    (OUT_DIR / "README.md").write_text(
        "# FHIR R4 (4.0.1) definitions subset\n\n"
        "Generated by `scripts/gen_fhir_definitions.py` from the official R4\n"
        "definition bundles; do not edit by hand. See the script's docstring for\n"
        "what each file holds and how it is reduced.\n",
        encoding="utf-8",
    )
    for name, size in sizes.items():
        print(f"{name}: {size / 1024:.0f} KiB")
    print(
        f"{len(sds)} StructureDefinitions, {len(exts)} extensions, "
        f"{len(picked)} ValueSets, {len(terminology) - len(picked)} CodeSystems"
    )


if __name__ == "__main__":
    main()
