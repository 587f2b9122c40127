"""Behind a reverse proxy: forwarded headers are trusted only from FHIR_FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from fhir_server.storage.embedded import free_port
from tests.conftest import system_headers

from ._run import clean_env


@pytest.mark.parametrize(("trusted", "scheme"), [("*", "https"), ("10.9.9.9", "http")])
def test_forwarded_proto_sets_the_links_only_from_a_trusted_proxy(
    tmp_path: Path, mongo_uri: str, trusted: str, scheme: str
) -> None:
    port = free_port()
    env = clean_env(
        FHIR_MONGODB_URI=mongo_uri,
        FHIR_DATABASE=f"t_{uuid.uuid4().hex[:10]}",
        FHIR_FORWARDED_ALLOW_IPS=trusted,
        FHIR_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhir_server", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "the server exited"
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        created = httpx.post(
            f"{base}/Patient",
            json={"resourceType": "Patient"},
            headers={"X-Forwarded-Proto": "https", **system_headers(tmp_path / "data")},
            timeout=30,
        )
        assert created.status_code == 201
        assert created.headers["Location"].startswith(f"{scheme}://127.0.0.1:{port}/Patient/")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
