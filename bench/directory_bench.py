"""Directory search benchmark: ``$directory-search`` on the local (mock ROR) directory.

Usage: ``python -m bench.directory_bench [--n 400] [--concurrency 1 4]``.

The real server runs under uvicorn in its own process (``FHIR_DIRECTORY=local``,
the default); this process sends a mix of the booklet's searches over HTTP
(a family name, a given name with accents or with ``%``, a city plus a
profession, a structure name, units of a city) and reports p50 / p95 / p99.
Figures are latencies of one run on this machine; the point is the order of
magnitude next to a plain read in the same run (``GET /metadata`` is timed as
the baseline), never an absolute promise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import aiohttp

from bench.common import Result, database, fhir_server, run_load

G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
QUERIES: list[dict[str, str]] = [
    {"family": "martin"},
    {"given": "Raphaël"},
    {"given": "T%se"},
    {"family": "LEF%RE", "given": "therese"},
    {"city": "Marseille", "profession": f"{G15}|95"},
    {"organization": "cap sud"},
    {"kind": "unit", "city": "Nice"},
    {"city": "aix-en-provence"},
]


async def main(n: int, concurrencies: list[int]) -> list[Result]:
    results: list[Result] = []
    with database() as uri, fhir_server(uri, f"bench_dir_{uuid.uuid4().hex[:8]}") as server:
        async with aiohttp.ClientSession(headers=server.headers) as http:

            async def search(i: int) -> None:
                params = QUERIES[i % len(QUERIES)]
                async with http.get(f"{server}/$directory-search", params=params) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            async def baseline(i: int) -> None:
                async with http.get(f"{server}/metadata") as r:
                    assert r.status == 200
                    await r.read()

            await run_load("warm-up", 1, 20, search)
            for c in concurrencies:
                results.append(await run_load("GET /metadata (baseline)", c, n, baseline))
                results.append(await run_load("$directory-search (local)", c, n, search))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    out = asyncio.run(main(args.n, args.concurrency))
    for result in out:
        print(result.row())
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    target = folder / f"directory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    target.write_text(json.dumps([r.as_dict() for r in out], indent=2))
    print(target)
