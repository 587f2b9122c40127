"""``fhir-server serve`` starts on the embedded database and leaves no orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fhir_server.storage.embedded import free_port


def _processes_using(path: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline and "secantusd" in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_embedded_then_stop_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    env["FHIR_LOG_LEVEL"] = "WARNING"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhir_server", "serve", "--port", str(port), "--data", str(data)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert r.status_code == 200
        assert r.json()["resourceType"] == "CapabilityStatement"
        anonymous = httpx.post(
            f"http://127.0.0.1:{port}/Patient", json={"resourceType": "Patient"}, timeout=10
        )
        assert anonymous.status_code == 401
        # the README's first request: a token from the development issuer of the same data
        token = subprocess.run(
            [sys.executable, "-m", "fhir_server", "token", "--data", str(data)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        created = httpx.post(
            f"http://127.0.0.1:{port}/Patient",
            json={"resourceType": "Patient"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201
        assert _processes_using(data), "the embedded database should be running"
        proc.send_signal(sig)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=30) in (0, -sig)
        deadline = time.monotonic() + 10
        while _processes_using(data) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_using(data) == [], "the embedded database was left running"
        assert any(data.iterdir()), "data should persist under --data"
    finally:
        if proc.poll() is None:
            proc.kill()
