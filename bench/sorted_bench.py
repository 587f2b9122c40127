"""Sorted searches and totals (issue 13, item 1): does a page cost a page, whatever the match?

Loads ``--patients`` Patients with ``--obs-per-patient`` Observations each
(a weight/height/BMI series, one ``lastUpdated`` millisecond apart) through
the server's repository in bulk, then times, at concurrency 1, through
``interactions.search.search`` (parsing, the repository's query, paging,
bundle) as a trusted system:

  first -date        Observation?code=<weight>&_sort=-date&_count=20 (first page)
  next -date         the next link, followed 5 times (one sample = one page)
  previous -date     the previous link of the 6th page
  first _lastUpdated Observation?_sort=_lastUpdated&_count=20, and -_lastUpdated
  subject -date      Observation?subject=Patient/x&code=<BMI>&_sort=-date
  total accurate     Observation?code=<weight>&_total=accurate&_count=1

each with the sorted windows on (``FHIR_SEARCH_SORTED_WINDOWS``, the default) and
off (the plain keyset query), same data, same run, and the documents each page
transferred from the database (a PyMongo command listener counts them).
The embedded database materialises every candidate of a range before applying
``limit``, so "transferred" understates what the plain query reads there; the
first page's latency against the size of the match is the honest measure.

Usage::

    python -m bench.sorted_bench --patients 2000 --obs-per-patient 50 [--data DIR]

``--data DIR`` keeps the embedded database there and reuses it when loaded;
``--windows-only`` times the server's own pages without the plain query beside
them (at the issue's 500,000 Observations a plain first page takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pymongo import monitoring

from bench.common import Result, in_process_server, run_load
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.interactions.write import stamp
from fhir_server.storage.embedded import EmbeddedServer
from fhir_server.storage.repository import Change, ReadScope, Repository

LOINC = "http://loinc.org"
SERIES = [("29463-7", "kg"), ("8302-2", "cm"), ("39156-5", "kg/m2")]
BASE = "http://bench.example/fhir"


class Transferred(monitoring.CommandListener):
    """Documents the database returned to this process (find batches)."""

    def __init__(self) -> None:
        self.docs = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        return None

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor") if isinstance(event.reply, dict) else None
        if isinstance(cursor, dict):
            self.docs += len(cursor.get("firstBatch") or cursor.get("nextBatch") or [])

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


LISTENER = Transferred()


async def load(repository: Repository, patients: int, per_patient: int, seed: int) -> float:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    lu = datetime(2026, 1, 1, tzinfo=UTC)
    changes: list[Change] = []
    n = 0

    async def flush() -> None:
        batch = list(changes)
        changes.clear()

        async def write(scope: ReadScope) -> None:
            await repository.write_many(batch, scope)

        await repository.transaction(write, ReadScope())

    def add(res: dict[str, Any]) -> None:
        nonlocal n
        when = lu + timedelta(milliseconds=n)
        n += 1
        stored = stamp(res, res["id"], 1, when)
        changes.append(Change(res["resourceType"], res["id"], 1, None, when, stored, "POST"))

    for i in range(patients):
        add(
            {
                "resourceType": "Patient",
                "id": f"p{i}",
                "name": [{"family": f"Martin{i % 97}", "given": ["Léa"]}],
                "birthDate": "2015-03-12",
            }
        )
        start = datetime(2020, 1, 1) + timedelta(days=rng.randrange(1500))
        for j in range(per_patient):
            code, unit = SERIES[j % 3]
            when = start + timedelta(days=10 * (j // 3), minutes=rng.randrange(1440))
            add(
                {
                    "resourceType": "Observation",
                    "id": f"o{i}-{j}",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": code}]},
                    "subject": {"reference": f"Patient/p{i}"},
                    "effectiveDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "valueQuantity": {
                        "value": round(rng.uniform(10, 90), 1),
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
            )
        if len(changes) >= 2000:
            await flush()
    if changes:
        await flush()
    return time.perf_counter() - t0


def link(bundle: dict[str, Any], relation: str) -> list[tuple[str, str]] | None:
    url = next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)
    return parse_qsl(urlsplit(url).query) if url else None


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


async def bench(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    async with in_process_server(uri, args.database) as app:
        services, storage = app.state.services, app.state.storage
        loaded = await storage.db.Observation.estimated_document_count()
        load_s = None
        if not loaded:
            load_s = await load(services.repository, args.patients, args.obs_per_patient, 42)
        n_pat = await storage.db.Patient.estimated_document_count()
        n_obs = await storage.db.Observation.estimated_document_count()
        info = {"patients": n_pat, "observations": n_obs, "load_s": load_s}
        print(f"loaded: {json.dumps(info)}", flush=True)
        ctx = Context.for_request(services, BASE)
        settings = storage.settings
        weight, bmi = f"{LOINC}|29463-7", f"{LOINC}|39156-5"
        rows: list[dict[str, Any]] = []

        async def timed(name: str, op: Callable[[int], Awaitable[list[str]]], n: int) -> None:
            if args.only and not any(word in name for word in args.only):
                return
            out: dict[str, Any] = {"name": name}
            results: dict[bool, list[str]] = {}
            for windows in (True,) if args.windows_only else (True, False):
                settings.sorted_windows = windows
                results[windows] = await op(0)
                before = LISTENER.docs
                r: Result = await run_load(name, 1, n, op)
                label = "windows" if windows else "plain"
                out[label] = {**r.as_dict(), "docs_per_sample": (LISTENER.docs - before) / n}
                print(f"  {r.row()}  [{label}] docs/sample {out[label]['docs_per_sample']:.0f}")
            settings.sorted_windows = True
            if not args.windows_only:
                assert results[True] == results[False], (
                    name,
                    results[True][:3],
                    results[False][:3],
                )
            rows.append(out)

        def first(params: list[tuple[str, str]]) -> Callable[[int], Awaitable[list[str]]]:
            async def op(i: int) -> list[str]:
                return ids(await search(ctx, "Observation", params))

            return op

        sorted_date = [("code", weight), ("_sort", "-date"), ("_count", "20")]
        await timed("first -date", first(sorted_date), args.samples)
        state: dict[str, Any] = {}

        async def walk(i: int) -> list[str]:
            params = state.get("next") if i % 5 else None
            b = await search(ctx, "Observation", params or sorted_date)
            state["next"] = link(b, "next")
            state["previous"] = link(b, "previous")
            return ids(b)

        await timed("next -date (per page)", walk, args.samples)
        sixth: list[tuple[str, str]] = sorted_date
        for _ in range(6):
            b = await search(ctx, "Observation", sixth)
            sixth = link(b, "next") or sixth
        previous = link(await search(ctx, "Observation", sixth), "previous") or sorted_date
        await timed("previous -date", first(previous), args.samples)
        await timed("first _lastUpdated", first([("_sort", "_lastUpdated")]), args.samples)
        await timed("first -_lastUpdated", first([("_sort", "-_lastUpdated")]), args.samples)

        async def subject(i: int) -> list[str]:
            pid = f"Patient/p{(i * 7919) % n_pat}"
            params = [("subject", pid), ("code", bmi), ("_sort", "-date")]
            return ids(await search(ctx, "Observation", params))

        await timed("subject+code -date", subject, args.samples)

        async def total(i: int) -> list[str]:
            b = await search(ctx, "Observation", [("code", weight), ("_total", "accurate")])
            return [str(b.get("total"))]

        await timed("total accurate", total, max(3, args.samples // 10))
        return {**info, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--obs-per-patient", type=int, default=50)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--database", default="sorted_bench")
    ap.add_argument("--data", help="embedded database directory, kept and reused")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--only", nargs="*", default=[], help="rows whose name contains a word")
    ap.add_argument(
        "--windows-only",
        action="store_true",
        help="skip the plain-query comparison (minutes per page at 500,000 Observations)",
    )
    args = ap.parse_args()
    monitoring.register(LISTENER)
    with ExitStack() as stack:
        data = args.data or stack.enter_context(tempfile.TemporaryDirectory(prefix="sorted-"))
        # a search benchmark: the journal is not synced on every commit (loading is faster)
        server = stack.enter_context(EmbeddedServer(data, cache_size="2G", sync_on_commit=False))
        out = asyncio.run(bench(args, server.uri))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:  # noqa: PTH123
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
