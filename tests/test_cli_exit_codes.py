"""``fhir-server serve`` exits non-zero when it cannot serve, so a supervisor can act."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.crash_bench import database_pids
from fhir_server.storage.embedded import free_port
from tests.conftest import system_headers
from tests.storage.test_supervisor import start_once_command


def serve(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    environment.update(env)
    log = (tmp_path / "server.log").open("wb")
    args = ["serve", "--port", str(port), "--data", str(tmp_path / "data")]
    return subprocess.Popen(
        [sys.executable, "-m", "fhir_server", *args],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def log_records(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "server.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_serve_exits_non_zero_when_database_restarts_are_exhausted(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(
        tmp_path,
        port,
        FHIR_EMBEDDED_COMMAND=str(start_once_command(tmp_path)),
        FHIR_EMBEDDED_RESTART_ATTEMPTS="2",
        FHIR_EMBEDDED_RESTART_DELAY="0.5",
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        headers = system_headers(tmp_path / "data")
        created = httpx.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers=headers)
        assert created.status_code == 201

        [database] = database_pids(tmp_path / "data")
        os.kill(database, signal.SIGKILL)
        seen = []
        while proc.poll() is None and len(seen) < 200:
            try:
                seen.append(httpx.get(f"{base}/healthz", timeout=2).status_code)
            except httpx.TransportError:
                break
            time.sleep(0.02)
        assert 503 in seen, f"/healthz never reported the outage: {seen}"
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = log_records(tmp_path)
    attempts = [r["attempt"] for r in records if r["message"] == "restarting embedded database"]
    assert attempts == [1, 2]
    assert sum(r["message"] == "embedded database restart failed" for r in records) == 2
    assert any("giving up" in str(r["message"]) for r in records)
    assert database_pids(tmp_path / "data") == []


def test_serve_exits_non_zero_when_the_database_cannot_start(tmp_path: Path) -> None:
    failing = tmp_path / "no-database.sh"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    proc = serve(tmp_path, free_port(), FHIR_EMBEDDED_COMMAND=str(failing))
    assert proc.wait(timeout=60) != 0
