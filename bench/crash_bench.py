"""Crash test: SIGKILL the server and its database under a write load, then count.

Usage: ``python -m bench.crash_bench [--kills 20] [--workers 6] [--seed N]``.

The real server is started as users start it (``fhir-server serve --data DIR
--port P``, embedded database). Workers drive a write load over HTTP:
creates, updates of their own patients, and 10-entry transaction bundles (a
Patient and nine Observations referencing it by ``urn:uuid``, all tagged with
the transaction's own code). At a random moment the server and its database
are killed together with SIGKILL (both process groups: the database runs in
its own), as a power cut or an OOM kill of the container would; then the
server is restarted on the same data and the load resumes. After the last kill
the server is started once more and checked:

- every write that was acknowledged (a 201 or 200 whose response was read)
  is present with its version: ``vread`` of that version answers 200 and the
  current version is at least that one;
- no transaction is half-written: for every transaction sent, acknowledged or
  not, the resources tagged with its code number 0 or 10 (an acknowledged one, 10).

It prints acknowledged vs present counts. ``FHIR_DURABLE_WRITES=false`` shows
what the journal sync buys. Environment variables other than
``FHIR_MONGODB_URI`` / ``FHIR_DATA_DIR`` are passed to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import system_headers
from fhir_server.storage.embedded import free_port

TAG_SYSTEM = "urn:mrtc:crash-bench"


def database_pids(data: Path) -> list[int]:
    """The embedded database processes serving ``data`` (found by their command line)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"secantusd" in arg for arg in cmdline[:2]) and str(data).encode() in cmdline:
            pids.append(int(proc.name))
    return pids


class ServerProcess:
    """``fhir-server serve`` in its own session, with its embedded database."""

    def __init__(self, data: Path, env: dict[str, str], log_dir: Path) -> None:
        self.data = data
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait until it serves; returns the seconds it took."""
        self.port = free_port()
        self.starts += 1
        started = time.monotonic()
        with (self.log_dir / f"server-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fhir_server",
                    "serve",
                    "--data",
                    str(self.data),
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.proc.returncode}; see {self.log_dir}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the server did not start in {timeout:.0f}s")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server's and the database's process groups, back to back."""
        assert self.proc is not None
        groups = []
        for pid in database_pids(self.data):
            with contextlib.suppress(ProcessLookupError):
                groups.append(os.getpgid(pid))
        groups.append(self.proc.pid)  # the server leads its own session
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while database_pids(self.data):
            if time.monotonic() > deadline:
                raise RuntimeError("the embedded database survived SIGKILL")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Ledger:
    """What the server acknowledged, and which transactions were sent."""

    versions: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    transactions: dict[str, bool] = field(default_factory=dict)  # code -> acknowledged
    acked_per_round: list[int] = field(default_factory=list)
    on_ack: Callable[[], None] = lambda: None

    def ack(self, type_: str, id_: str, version: int) -> None:
        self.versions.setdefault((type_, id_), set()).add(version)
        self.on_ack()

    @property
    def acked_versions(self) -> int:
        return sum(len(v) for v in self.versions.values())


@dataclass
class Report:
    kills: int
    acked_versions: int
    present_versions: int
    lost: list[str]
    transactions_sent: int
    transactions_acked: int
    transactions_complete: int
    transactions_absent: int
    partial: list[str]
    lost_transactions: list[str]
    restart_seconds: list[float]
    acked_per_round: list[int]

    @property
    def ok(self) -> bool:
        return not self.lost and not self.partial and not self.lost_transactions

    def summary(self) -> str:
        lines = [
            f"kills: {self.kills}",
            f"acknowledged versions: {self.acked_versions}, present after the kills: "
            f"{self.present_versions}, lost: {len(self.lost)}",
            f"transactions sent: {self.transactions_sent}, acknowledged: "
            f"{self.transactions_acked}, complete: {self.transactions_complete}, "
            f"absent (not acknowledged): {self.transactions_absent}, "
            f"acknowledged but absent: {len(self.lost_transactions)}, "
            f"half-written: {len(self.partial)}",
            f"acknowledged writes per round: {self.acked_per_round}",
            "restart seconds: " + ", ".join(f"{s:.1f}" for s in self.restart_seconds),
        ]
        lines += [f"  LOST {item}" for item in self.lost[:20]]
        lines += [f"  LOST TRANSACTION {code}" for code in self.lost_transactions[:20]]
        lines += [f"  HALF-WRITTEN {item}" for item in self.partial[:20]]
        return "\n".join(lines)


def _version(response: httpx.Response) -> int:
    return int(response.headers["etag"].removeprefix('W/"').rstrip('"'))


def _patient(rng: random.Random, tx: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": f"Crash{rng.randrange(1000)}", "given": ["Léa"]}],
        "gender": rng.choice(["female", "male"]),
        "birthDate": f"20{10 + rng.randrange(10)}-0{1 + rng.randrange(9)}-1{rng.randrange(10)}",
    }
    if tx:
        body["meta"] = {"tag": [{"system": TAG_SYSTEM, "code": tx}]}
    return body


def _transaction(rng: random.Random, tx: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "urn:uuid:patient",
            "resource": _patient(rng, tx),
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for k in range(9):
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "meta": {"tag": [{"system": TAG_SYSTEM, "code": tx}]},
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "subject": {"reference": "urn:uuid:patient"},
                    "effectiveDateTime": f"2026-0{1 + k}-15",
                    "valueQuantity": {
                        "value": 20 + k,
                        "unit": "kg",
                        "system": "http://unitsofmeasure.org",
                        "code": "kg",
                    },
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def _worker(http: httpx.AsyncClient, ledger: Ledger, rng: random.Random) -> None:
    """Write until the server goes away; record only what was acknowledged."""
    mine: list[str] = []
    minimal = {"Prefer": "return=minimal"}
    while True:
        roll = rng.random()
        try:
            if roll < 0.4 or not mine:
                r = await http.post("/Patient", json=_patient(rng), headers=minimal)
                if r.status_code == 201:
                    id_ = r.headers["location"].split("/Patient/")[1].split("/")[0]
                    ledger.ack("Patient", id_, _version(r))
                    mine.append(id_)
            elif roll < 0.7:
                id_ = rng.choice(mine)
                body = {**_patient(rng), "id": id_}
                r = await http.put(f"/Patient/{id_}", json=body, headers=minimal)
                if r.status_code == 200:
                    ledger.ack("Patient", id_, _version(r))
            else:
                tx = f"tx-{uuid.uuid4().hex}"
                ledger.transactions[tx] = False
                r = await http.post("/", json=_transaction(rng, tx))
                if r.status_code == 200:
                    for entry in r.json()["entry"]:
                        type_, id_, _, vid = entry["response"]["location"].split("/")[-4:]
                        ledger.ack(type_, id_, int(vid))
                    ledger.transactions[tx] = True
        except (httpx.TransportError, httpx.ProtocolError):
            return  # killed: whatever was in flight is not acknowledged


async def _load_until_killed(
    server: ServerProcess, ledger: Ledger, rng: random.Random, workers: int, window: float
) -> None:
    before = ledger.acked_versions
    landed = asyncio.Event()
    ledger.on_ack = landed.set
    headers = system_headers(server.data)
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30) as http:
        tasks = [
            asyncio.create_task(_worker(http, ledger, random.Random(rng.random())))
            for _ in range(workers)
        ]
        with contextlib.suppress(TimeoutError):  # the kill point is drawn once writes land
            await asyncio.wait_for(landed.wait(), 60)
        await asyncio.sleep(rng.uniform(0, window))
        server.kill()
        await asyncio.gather(*tasks)
    ledger.acked_per_round.append(ledger.acked_versions - before)


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)  # acknowledged versions not found
    partial: list[str] = field(default_factory=list)  # transactions neither 0 nor 10
    lost_transactions: list[str] = field(default_factory=list)  # acknowledged, none stored
    complete: int = 0
    absent: int = 0  # not acknowledged, and nothing of it stored: fine


async def _check(
    base: str, ledger: Ledger, headers: dict[str, str], concurrency: int = 8
) -> Findings:
    found = Findings()
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:

        async def resource(type_: str, id_: str, versions: set[int]) -> None:
            async with sem:
                current = await http.get(f"/{type_}/{id_}")
                now = _version(current) if current.status_code == 200 else 0
                for vid in sorted(versions):
                    r = await http.get(f"/{type_}/{id_}/_history/{vid}")
                    if r.status_code != 200 or now < vid:
                        found.lost.append(
                            f"{type_}/{id_}/_history/{vid} (vread {r.status_code}, "
                            f"current version {now})"
                        )

        async def transaction(code: str, acked: bool) -> None:
            async with sem:
                stored = 0
                for type_ in ("Patient", "Observation"):
                    r = await http.get(
                        f"/{type_}", params={"_tag": f"{TAG_SYSTEM}|{code}", "_summary": "count"}
                    )
                    r.raise_for_status()
                    stored += r.json()["total"]
            if stored == 10:
                found.complete += 1
            elif stored == 0 and not acked:
                found.absent += 1
            elif stored == 0:
                found.lost_transactions.append(code)
            else:
                found.partial.append(f"{code}: {stored} of 10 stored (acknowledged: {acked})")

        await asyncio.gather(
            *(resource(t, i, v) for (t, i), v in ledger.versions.items()),
            *(transaction(code, acked) for code, acked in ledger.transactions.items()),
        )
    return found


def run(
    kills: int,
    *,
    workers: int = 6,
    seed: int | None = None,
    window: float = 2.0,
    data: Path | None = None,
    env: dict[str, str] | None = None,
) -> Report:
    """Kill the server ``kills`` times under load, restart, and check what survived."""
    rng = random.Random(seed)
    environment = {
        k: v
        for k, v in (env or os.environ).items()
        if k not in ("FHIR_MONGODB_URI", "FHIR_DATA_DIR")
    }
    environment.setdefault("FHIR_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="fhir-crash-") as tmp:
        root = Path(tmp)
        server = ServerProcess(data or root / "data", environment, root)
        ledger = Ledger()
        restarts: list[float] = []
        try:
            restarts.append(server.start())
            for n in range(kills):
                asyncio.run(_load_until_killed(server, ledger, rng, workers, window))
                if n < kills - 1:
                    restarts.append(server.start())
            restarts.append(server.start())
            found = asyncio.run(_check(server.base, ledger, system_headers(server.data)))
        finally:
            server.stop()
    return Report(
        kills=kills,
        acked_versions=ledger.acked_versions,
        present_versions=ledger.acked_versions - len(found.lost),
        lost=found.lost,
        transactions_sent=len(ledger.transactions),
        transactions_acked=sum(ledger.transactions.values()),
        transactions_complete=found.complete,
        transactions_absent=found.absent,
        partial=found.partial,
        lost_transactions=found.lost_transactions,
        restart_seconds=restarts,
        acked_per_round=ledger.acked_per_round,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--workers", type=int, default=6, help="concurrent writers")
    parser.add_argument(
        "--window", type=float, default=2.0, help="kill within this many seconds of the first ack"
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}, durable writes: {os.environ.get('FHIR_DURABLE_WRITES', 'true')}")
    report = run(args.kills, workers=args.workers, seed=seed, window=args.window)
    print(report.summary())
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
