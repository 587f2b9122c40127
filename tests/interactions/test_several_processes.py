"""Several server processes on one database serve the same thing, without a restart.

Two real ``fhir-server serve`` processes share one database. A
SearchParameter created through one starts serving on the other (search and
CapabilityStatement) within ``FHIR_SHARED_STATE_CHECK_MS`` plus a request;
deleted through one, it stops on the other within the same bound.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fhir_server.storage.embedded import free_port
from tests.cli._run import clean_env
from tests.conftest import system_headers

CHECK_MS = 500
BOUND_S = CHECK_MS / 1000 + 2.0  # the check interval, plus a request and a reload on a busy CI
NICKNAME = "http://example.org/fhir/StructureDefinition/nickname"
AUTH: dict[str, str] = {}  # a trusted system's token, once the servers' data dir is known


def _start(tmp_path: Path, mongo_uri: str, database: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = clean_env(
        FHIR_MONGODB_URI=mongo_uri,
        FHIR_DATABASE=database,
        FHIR_SHARED_STATE_CHECK_MS=str(CHECK_MS),
        FHIR_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhir_server", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_up(proc: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"{base}/metadata", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory, mongo_uri: str) -> Iterator[list[str]]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    tmp = tmp_path_factory.mktemp("servers")
    AUTH.update(system_headers(tmp / "data"))  # both serve from tmp: one development issuer
    started = [_start(tmp, mongo_uri, database) for _ in range(2)]
    try:
        for proc, base in started:
            _wait_up(proc, base)
        yield [base for _, base in started]
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            proc.wait(timeout=30)


def _within_bound(check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` holds; fails past the bound."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < BOUND_S, f"not seen within {BOUND_S}s"
        time.sleep(0.05)
    return time.monotonic() - start


def _search(base: str, code: str, value: str) -> httpx.Response:
    return httpx.get(
        f"{base}/Patient",
        params={code: value},
        headers={"Prefer": "handling=strict", **AUTH},
        timeout=10,
    )


def _nicknamed(nickname: str) -> dict[str, object]:
    return {"resourceType": "Patient", "extension": [{"url": NICKNAME, "valueString": nickname}]}


def _capability_codes(base: str) -> set[str]:
    statement = httpx.get(f"{base}/metadata", timeout=10).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    return {p["name"] for p in patient.get("searchParam", [])}


def test_search_parameter_reaches_the_other_process(two_servers: list[str]) -> None:
    first, second = two_servers
    code = f"nick-{uuid.uuid4().hex[:6]}"
    assert _search(second, code, "x").status_code == 400  # unknown on both
    assert code not in _capability_codes(second)

    definition = {
        "resourceType": "SearchParameter",
        "url": f"http://example.org/fhir/SearchParameter/{code}",
        "name": code.replace("-", ""),
        "status": "active",
        "description": "A patient's nickname, for the several-processes test",
        "code": code,
        "base": ["Patient"],
        "type": "string",
        "expression": f"Patient.extension('{NICKNAME}').value",
    }
    created = httpx.post(f"{first}/SearchParameter", json=definition, headers=AUTH, timeout=10)
    assert created.status_code == 201, created.text
    written_first = uuid.uuid4().hex
    assert httpx.post(
        f"{first}/Patient", json=_nicknamed(written_first), headers=AUTH, timeout=10
    ).is_success

    waited = _within_bound(lambda: _search(second, code, written_first).status_code == 200)
    found = _search(second, code, written_first).json()
    assert len(found["entry"]) == 1, f"live on the second process after {waited:.2f}s"
    assert code in _capability_codes(second)
    written_second = uuid.uuid4().hex  # the second process now indexes with it too
    assert httpx.post(
        f"{second}/Patient", json=_nicknamed(written_second), headers=AUTH, timeout=10
    ).is_success
    assert len(_search(first, code, written_second).json()["entry"]) == 1

    deleted = httpx.delete(
        f"{first}/SearchParameter/{created.json()['id']}", headers=AUTH, timeout=10
    )
    assert deleted.status_code == 204
    _within_bound(lambda: _search(second, code, written_first).status_code == 400)
    assert code not in _capability_codes(second)
