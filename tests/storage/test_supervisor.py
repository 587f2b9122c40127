"""The server restarts its embedded database when it dies, and fails fast meanwhile.

Real processes throughout: the app (as ``fhir-server serve`` builds it) starts
its own ``secantusd-py``; the tests kill it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.crash_bench import database_pids
from tests.conftest import AppClient, make_settings, patient

TAG = "urn:test:supervisor"


def database_pid(data: Path) -> int:
    [pid] = database_pids(data)
    return pid


def start_once_command(tmp_path: Path) -> Path:
    """A database command that starts once, then refuses: restarts will fail."""
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    marker = tmp_path / "started-once"
    script = tmp_path / "secantusd-once.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ -e "{marker}" ]; then echo "refusing to start again" >&2; exit 1; fi\n'
        f'touch "{marker}"\n'
        f'exec "{exe}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def assert_unavailable(r: httpx.Response, msg_id: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["code"] == "transient"
    assert issue["details"]["coding"][0]["code"] == msg_id


def big_transaction(entries: int) -> dict[str, Any]:
    tagged = {"tag": [{"system": TAG, "code": "in-flight"}]}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(meta=tagged), "request": {"method": "POST", "url": "Patient"}}
            for _ in range(entries)
        ],
    }


def health_state(r: httpx.Response) -> str:
    """``ok``, or the message id of the 503 /healthz answered."""
    if r.status_code == 200:
        return "ok"
    return str(r.json()["issue"][0]["details"]["coding"][0]["code"])


async def wait_for_health(http: httpx.AsyncClient, state: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while health_state(await http.get("/healthz")) != state:
        assert time.monotonic() < deadline, f"/healthz never reported {state}"
        await asyncio.sleep(0.05)


async def test_killed_database_is_restarted_and_the_server_serves_again(tmp_path: Path) -> None:
    data = tmp_path / "db"
    async with AppClient(make_settings("", data_dir=data)) as http:
        created = (await http.post("/Patient", json=patient())).json()
        url = f"/Patient/{created['id']}"
        first = database_pid(data)
        in_flight = asyncio.create_task(http.post("/", json=big_transaction(300)))
        await asyncio.sleep(0.3)  # the transaction is being processed
        assert not in_flight.done()

        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        r = await http.get(url)
        assert time.monotonic() - killed < 2, "a request while the database is down must fail fast"
        assert_unavailable(r, "MRTC-DB-001")
        aborted = await in_flight
        assert time.monotonic() - killed < 2, "a request running at the crash must fail fast"
        assert_unavailable(aborted, "MRTC-DB-001")
        started = time.monotonic()
        write = await http.post("/Patient", json=patient())
        assert time.monotonic() - started < 2
        assert_unavailable(write, "MRTC-DB-001")
        health = await http.get("/healthz")
        assert_unavailable(health, "MRTC-DB-001")

        await wait_for_health(http, "ok")
        assert database_pid(data) != first
        again = await http.get(url)
        assert again.status_code == 200
        assert again.json() == created
        assert (await http.post("/Patient", json=patient())).status_code == 201
        assert (await http.get("/readyz")).status_code == 200
        count = await http.get("/Patient", params={"_tag": f"{TAG}|in-flight", "_summary": "count"})
        assert count.json()["total"] == 0, "the aborted transaction must leave nothing behind"


async def test_server_gives_up_when_restarts_fail(tmp_path: Path) -> None:
    data = tmp_path / "db"
    settings = make_settings(
        "",
        data_dir=data,
        embedded_command=str(start_once_command(tmp_path)),
        embedded_restart_attempts=2,
        embedded_restart_delay=0.05,
    )
    async with AppClient(settings, drop=False) as http:
        assert (await http.post("/Patient", json=patient())).status_code == 201
        os.kill(database_pid(data), signal.SIGKILL)
        await wait_for_health(http, "MRTC-DB-002", within=20)
        assert_unavailable(await http.get("/healthz"), "MRTC-DB-002")
        started = time.monotonic()
        r = await http.get("/Patient")
        assert time.monotonic() - started < 2
        assert_unavailable(r, "MRTC-DB-002")
        assert database_pids(data) == []
