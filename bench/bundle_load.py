"""Bundle load rate: the Synthea corpus sent as batches and as transactions.

Usage: ``python -m bench.bundle_load [--rounds 3] [--corpus tests/data/synthea-covid19-children]``.

The server runs under uvicorn in its own process on the embedded database
(or ``FHIR_MONGODB_URI``), as ``fhir-server serve`` runs it. For each round
and each mode this process posts the corpus's bundles one after the other -
the practitioners and organisations first, then the patients, as a regional
system would - into a fresh database (a new server process), and reports
resources stored per second over the whole corpus. The same is repeated with
``FHIR_REFERENTIAL_INTEGRITY=false`` to show what the existence checks cost.

It prints a table and writes ``bench/results/bundles-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import database, fhir_server

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "synthea-covid19-children"


def load_corpus(directory: Path) -> list[dict[str, Any]]:
    """Bundles in the order a sender would use: shared resources first, then patients."""
    files = sorted(directory.glob("*.json"), key=lambda p: (p.name[0].isupper(), p.name))
    return [json.loads(p.read_text()) for p in files]


def post_all(base: str, bundles: list[dict[str, Any]], mode: str) -> tuple[int, float]:
    """Post every bundle as ``mode``; (resources stored, seconds)."""
    stored = 0
    with httpx.Client(base_url=base, timeout=300) as client:
        started = time.perf_counter()
        for bundle in bundles:
            response = client.post("/", json={**bundle, "type": mode})
            response.raise_for_status()
            entries = response.json()["entry"]
            failed = [e["response"]["status"] for e in entries if e["response"]["status"][0] != "2"]
            if failed:
                raise RuntimeError(f"{mode}: {len(failed)} entries failed: {failed[:3]}")
            stored += len(entries)
        return stored, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    bundles = load_corpus(args.corpus)
    rows: list[dict[str, Any]] = []
    with database() as uri:
        for integrity in ("true", "false"):
            os.environ["FHIR_REFERENTIAL_INTEGRITY"] = integrity
            for mode in ("batch", "transaction"):
                rates = []
                for _ in range(args.rounds):
                    with fhir_server(uri, f"bench_{uuid.uuid4().hex[:8]}") as base:
                        count, seconds = post_all(base, bundles, mode)
                    rates.append(count / seconds)
                row = {
                    "mode": mode,
                    "referential_integrity": integrity,
                    "resources": count,
                    "rounds": args.rounds,
                    "median_per_s": round(statistics.median(rates), 1),
                    "rates": [round(r, 1) for r in rates],
                }
                rows.append(row)
                print(
                    f"{mode:<12} integrity={integrity:<5} {count} resources  "
                    f"median {row['median_per_s']:7.1f}/s  runs {row['rates']}"
                )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bundles-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"corpus": str(args.corpus), "results": rows}, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
