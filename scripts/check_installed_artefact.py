#!/usr/bin/env python3
"""The installed wheel is the same server: build it, install it fresh, run it from nowhere.

What an operator does, checked end to end (CI runs it: `make artefact`):

1. build the sdist and the wheel from the checkout (``python -m build``, no
   isolation: the build tools come from the lock), and check that the wheel's
   implementation guide is byte for byte the source ``ig/``;
2. create a fresh virtual environment, install the locked runtime versions
   (``requirements.lock``, hashes required) and the wheel, ``pip check``;
3. from an empty temporary directory, with no ``FHIR_*`` variable set, run
   ``fhir-server serve`` (embedded database under ``./data``);
4. the CapabilityStatement lists every profile of the IG and the guide, the
   IG's StructureDefinitions are served, and a Patient claiming mrtc-patient
   without its required birth date is refused with 422;
5. stop the server with SIGTERM and check that no database process is left.

Standard library only, so it runs with any Python 3.11+.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IG = ROOT / "ig"
PATIENT_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-patient"
START_TIMEOUT = 180


class CheckFailed(Exception):
    pass


class Checks:
    def __init__(self) -> None:
        self.passed = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok {self.passed} - {what}", flush=True)


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise CheckFailed(
            f"{' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def http(method: str, url: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/fhir+json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/fhir+json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_processes(marker: Path) -> list[int]:
    """Embedded database processes started for ``marker`` (their command line names it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "secantusd" in cmdline and str(marker) in cmdline:
            pids.append(int(proc.name))
    return pids


def ig_profiles() -> set[str]:
    index = json.loads((IG / "index.json").read_text())
    return {
        f["url"]
        for f in index["files"]
        if f["resourceType"] == "StructureDefinition"
        and f.get("derivation") == "constraint"
        and f.get("kind") == "resource"
    }


def build(work: Path, checks: Checks) -> Path:
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT)
    (wheel,) = dist.glob("*.whl")
    checks.ok(f"built {wheel.name} and its sdist")
    source = {p.name: p.read_bytes() for p in IG.iterdir() if p.is_file()}
    with zipfile.ZipFile(wheel) as zf:
        packaged = {
            Path(n).name: zf.read(n)
            for n in zf.namelist()
            if n.startswith("fhir_server/data/ig/") and not n.endswith("/")
        }
    if packaged != source:
        missing = sorted(source.keys() - packaged.keys())
        differ = sorted(n for n in source.keys() & packaged.keys() if source[n] != packaged[n])
        raise CheckFailed(f"the wheel's IG differs from ig/: missing {missing}, differing {differ}")
    checks.ok(f"the wheel carries ig/ unchanged ({len(source)} files)")
    return wheel


def install(work: Path, wheel: Path, checks: Checks) -> Path:
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
    run(*pip, "--require-hashes", "-r", ROOT / "requirements.lock")
    run(*pip, "--no-deps", wheel)
    run(venv / "bin" / "python", "-m", "pip", "check")
    checks.ok("installed the locked runtime versions and the wheel into a fresh venv (pip check)")
    version = run(venv / "bin" / "fhir-server", "--version").stdout.strip()
    checks.ok(f"fhir-server --version: {version}")
    return venv


def serve_and_check(venv: Path, work: Path, checks: Checks) -> None:
    here = work / "empty"
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    checked = run(venv / "bin" / "fhir-server", "ig", "check", cwd=here, env=env)
    checks.ok(f"fhir-server ig check on the packaged IG: {checked.stdout.strip()}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = work / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [venv / "bin" / "fhir-server", "serve", "--port", str(port)],
            cwd=here,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                raise CheckFailed(
                    f"the server exited with {server.returncode}:\n{log_path.read_text()}"
                )
            try:
                status, statement = http("GET", f"{base}/metadata")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CheckFailed("the server did not answer /metadata in time")
            time.sleep(0.3)
        checks.ok(f"fhir-server serve answers from an empty directory ({here})")

        served = {
            url for r in statement["rest"][0]["resource"] for url in r.get("supportedProfile", [])
        }
        expected = ig_profiles()
        if not expected or not expected <= served:
            raise CheckFailed(f"profiles missing from the CapabilityStatement: {expected - served}")
        if not statement.get("implementationGuide"):
            raise CheckFailed("the CapabilityStatement names no implementation guide")
        checks.ok(f"the CapabilityStatement lists the IG's {len(expected)} profiles and the guide")

        status, _ = http("GET", f"{base}/StructureDefinition?_summary=count")
        if status != 401:
            raise CheckFailed(f"a request without a token got {status}, not 401")
        token = run(venv / "bin" / "fhir-server", "token", cwd=here, env=env).stdout.strip()
        checks.ok("without a token: 401; `fhir-server token` prints one from the data directory")

        status, bundle = http("GET", f"{base}/StructureDefinition?_summary=count", token=token)
        if status != 200 or not bundle.get("total"):
            raise CheckFailed(f"no StructureDefinition served: {status} {bundle}")
        checks.ok(f"the IG is served: {bundle['total']} StructureDefinitions")

        invalid = {
            "resourceType": "Patient",
            "meta": {"profile": [PATIENT_PROFILE]},
            "name": [{"use": "official", "family": "Martin", "given": ["Lina"]}],
            "gender": "female",
        }
        status, outcome = http("POST", f"{base}/Patient", invalid, token=token)
        text = json.dumps(outcome)
        if status != 422 or "Patient.birthDate" not in text:
            raise CheckFailed(f"a Patient without birthDate claiming mrtc-patient got {status}")
        checks.ok("a Patient claiming mrtc-patient without a birth date is refused: 422")

        if not database_processes(here):
            raise CheckFailed("no embedded database process was found while serving")
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        if code not in (0, -signal.SIGTERM):
            raise CheckFailed(f"the server exited with {code} on SIGTERM")
        checks.ok(f"SIGTERM stops the server (exit {code})")
        deadline = time.monotonic() + 15
        while database_processes(here) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = database_processes(here)
        if left:
            raise CheckFailed(f"database processes left running: {left}")
        checks.ok("no database process is left")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pid in database_processes(here):
            os.kill(pid, signal.SIGKILL)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="fhir-artefact-"))
    checks = Checks()
    started = time.monotonic()
    try:
        wheel = build(work, checks)
        venv = install(work, wheel, checks)
        serve_and_check(venv, work, checks)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"not ok {checks.passed + 1} - {exc}", flush=True)
        print(f"artefact: {checks.passed} passed, 1 failed (kept {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"artefact check took {time.monotonic() - started:.0f}s")
    print(f"artefact: {checks.passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
