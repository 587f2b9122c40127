"""What keeping several processes in step costs a request (docs/deployment.md).

Before each request a server may read the shared-state counters
(``interactions/shared_state.py``): at most once per
``FHIR_SHARED_STATE_CHECK_MS`` (default 1000), or before every request with 0.
This runs the real server under uvicorn twice per setting, alternating, on one
database, and times the same read (``GET /Patient/{id}``) against each, so
the ratio between settings is measured in one run.

    python -m bench.shared_state_bench [--count 3000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import Result, database, fhir_server, run_load
from fhir_server.storage import generations as counters


async def _reads(base: str, name: str, count: int, concurrency: int) -> Result:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        created = await http.post("/Patient", json={"resourceType": "Patient", "gender": "male"})
        path = f"/Patient/{created.json()['id']}"
        for _ in range(200):  # warm up
            await http.get(path)

        async def read(_: int) -> None:
            r = await http.get(path)
            assert r.status_code == 200

        return await run_load(name, concurrency, count, read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, list[Result]] = {}
    with database() as uri:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        for _round in range(2):
            for check_ms in ("1000", "0"):
                os.environ["FHIR_SHARED_STATE_CHECK_MS"] = check_ms
                with fhir_server(uri, name) as base:
                    label = f"read, check every {check_ms} ms"
                    result = asyncio.run(_reads(base, label, args.count, args.concurrency))
                    results.setdefault(check_ms, []).append(result)
                    print(result.row(), flush=True)
        check = asyncio.run(_counter_read(uri, name))
    best = {k: max(r.throughput for r in v) for k, v in results.items()}
    p50 = {k: min(r.pct(50) for r in v) for k, v in results.items()}
    print(
        f"check before every request vs every 1000 ms: throughput x{best['0'] / best['1000']:.3f},"
        f" p50 {p50['0'] - p50['1000']:+.2f} ms ({p50['1000']:.2f} -> {p50['0']:.2f} ms)"
    )
    print(f"one check alone (read every counter, sequential): {check.row()}")


async def _counter_read(uri: str, name: str, count: int = 2000) -> Result:
    """The check itself: the one query a due check runs, timed back to back."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    db = client[name]

    async def read(_: int) -> None:
        await counters.read_all(db)

    for _ in range(100):
        await read(0)
    result = await run_load("counter read", 1, count, read)
    await client.drop_database(name)
    await client.close()
    return result


if __name__ == "__main__":
    main()
