"""Shared pieces of the benchmarks: processes, timing, percentiles, reporting."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fhir_server.app import create_app
from fhir_server.security.devtokens import token_command
from fhir_server.settings import Settings
from fhir_server.storage.embedded import EmbeddedServer, free_port


@dataclass
class Result:
    name: str
    concurrency: int
    count: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[k]

    def row(self) -> str:
        return (
            f"{self.name:<28} c={self.concurrency:<3} n={self.count:<6} "
            f"{self.throughput:9.1f}/s  p50 {self.pct(50):7.2f} ms  "
            f"p95 {self.pct(95):7.2f} ms  p99 {self.pct(99):7.2f} ms"
        )

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "count": self.count,
            "throughput": round(self.throughput, 1),
            "p50_ms": round(self.pct(50), 3),
            "p95_ms": round(self.pct(95), 3),
            "p99_ms": round(self.pct(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else 0,
        }


async def run_load(
    name: str, concurrency: int, count: int, op: Callable[[int], Awaitable[object]]
) -> Result:
    """Run ``op(i)`` for i in range(count) with ``concurrency`` workers; time each call."""
    latencies: list[float] = []
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < count:
            i = next_i
            next_i += 1
            t0 = time.perf_counter()
            await op(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, concurrency, count, time.perf_counter() - started, latencies)


@contextmanager
def database() -> Iterator[str]:
    """FHIR_MONGODB_URI when set, else a fresh embedded server for this run, journaled
    on every commit unless FHIR_DURABLE_WRITES=false (as the server would start it)."""
    uri = os.environ.get("FHIR_MONGODB_URI")
    if uri:
        yield uri
        return
    durable = Settings().durable_writes
    with (
        tempfile.TemporaryDirectory(prefix="fhir-bench-") as data,
        EmbeddedServer(data, cache_size="2G", sync_on_commit=durable) as server,
    ):
        yield server.uri


class Server(str):
    """A running server's base URL, and the headers of a trusted system's token for it."""

    headers: dict[str, str]
    pid: int | None = None  # the server process (its RSS), when this run started it


def system_headers(data_dir: str | Path) -> dict[str, str]:
    """A ``system/*.cruds`` token of the development issuer of ``data_dir`` (as the CLI mints)."""
    token = token_command(data_dir, fhir_user=None, scope="system/*.cruds", ttl=24 * 3600)
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def fhir_server(uri: str, database_name: str) -> Iterator[Server]:
    """The real server under uvicorn, in its own process, on a loopback port."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="fhir-bench-auth-")
    env = {
        **os.environ,
        "FHIR_MONGODB_URI": uri,
        "FHIR_DATABASE": database_name,
        "FHIR_LOG_LEVEL": "WARNING",
        "FHIR_DATA_DIR": data,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhir_server", "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the FHIR server did not start")
            time.sleep(0.2)
        server = Server(base)
        server.headers = system_headers(data)
        server.pid = proc.pid
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


@asynccontextmanager
async def in_process_server(uri: str, database_name: str) -> AsyncIterator[Any]:
    """The app exactly as ``fhir-server serve`` builds it, lifespan running, in this process.

    For benchmarks that time the search engine without HTTP: they get the
    server's own services and storage (same settings, same database client).
    """
    app = create_app(Settings(mongodb_uri=uri, database=database_name, log_level="WARNING"))
    async with app.router.lifespan_context(app):
        yield app
