"""XML conversion benchmark (issue 7, item 6): what FHIR XML costs at the HTTP edge.

In process, no server: the work an XML request adds on top of a JSON one.

  in   XML body -> FHIR JSON text -> parsed (what ``parse_body`` does for XML),
       beside ``orjson.loads`` of the same resource as JSON (what a JSON body costs);
  out  parsed JSON -> XML bytes (what ``render`` does for XML),
       beside ``orjson.dumps`` (what a JSON response costs).

For a typical Patient (the IG's ``Patient-example-lea``, identity extensions and
all) and for a 50-entry searchset Bundle cycling through the IG's examples
(patients, observations, care plan, tasks, questionnaire response...). Each
figure is the median of ``--repeat`` timings of ``--number`` conversions; the
ratios compare numbers from the same run. Times are CPU time of the process
(``time.process_time``), so other load on the machine does not inflate them.

Usage::

    python -m bench.xml_bench [--number 200] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fhir_server.api.xml import json_to_xml, xml_to_json
from fhir_server.api.xml.schema import schema

IG = Path(__file__).resolve().parent.parent / "ig"
RESULTS = Path(__file__).resolve().parent / "results"
CONFORMANCE = {
    "StructureDefinition",
    "SearchParameter",
    "OperationDefinition",
    "CodeSystem",
    "ValueSet",
    "ConceptMap",
    "ImplementationGuide",
    "ActivityDefinition",
    "PlanDefinition",
    "Questionnaire",
}


def examples() -> list[dict[str, Any]]:
    found = [orjson.loads(p.read_bytes()) for p in sorted(IG.glob("*.json"))]
    return [r for r in found if r.get("resourceType") not in CONFORMANCE | {None}]


def bundle_of(resources: list[dict[str, Any]], size: int) -> dict[str, Any]:
    entries = []
    for i in range(size):
        resource = dict(resources[i % len(resources)], id=f"r{i}")
        entries.append(
            {
                "fullUrl": f"https://mrtc.example.org/fhir/{resource['resourceType']}/r{i}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": size, "entry": entries}


def median_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    # CPU time of this process: other work on a shared machine does not count.
    runs = timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)
    return statistics.median(runs) / number * 1e6


def measure(name: str, resource: dict[str, Any], number: int, repeat: int) -> dict[str, Any]:
    as_json = orjson.dumps(resource)
    as_xml = json_to_xml(resource)
    assert orjson.loads(xml_to_json(as_xml)) == resource  # the thing timed is correct
    row = {
        "case": name,
        "json_bytes": len(as_json),
        "xml_bytes": len(as_xml),
        "xml_in_us": median_us(lambda: orjson.loads(xml_to_json(as_xml)), number, repeat),
        "json_in_us": median_us(lambda: orjson.loads(as_json), number, repeat),
        "xml_out_us": median_us(lambda: json_to_xml(resource), number, repeat),
        "json_out_us": median_us(lambda: orjson.dumps(resource), number, repeat),
    }
    row["in_ratio"] = row["xml_in_us"] / row["json_in_us"]
    row["out_ratio"] = row["xml_out_us"] / row["json_out_us"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    schema.cache_clear()
    schema().type("Bundle")
    warm_ms = (time.perf_counter() - started) * 1000

    found = examples()
    patient = next(r for r in found if r["id"] == "example-lea")
    rows = [
        measure("Patient (IG example-lea)", patient, args.number, args.repeat),
        measure("Bundle, 50 entries", bundle_of(found, 50), max(1, args.number // 20), args.repeat),
    ]
    print(f"schema load (first XML request of a process): {warm_ms:.0f} ms\n")
    print(
        "| case | JSON bytes | XML bytes | XML in µs | JSON in µs | in ratio "
        "| XML out µs | JSON out µs | out ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['case']} | {r['json_bytes']:,} | {r['xml_bytes']:,} | {r['xml_in_us']:,.0f} "
            f"| {r['json_in_us']:,.1f} | {r['in_ratio']:.0f}x | {r['xml_out_us']:,.0f} "
            f"| {r['json_out_us']:,.1f} | {r['out_ratio']:.0f}x |"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"xml-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"schema_load_ms": warm_ms, "rows": rows}, indent=2))
    print(f"\nreport: {out}")


if __name__ == "__main__":
    main()
