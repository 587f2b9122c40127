"""``fhir-server load``: NDJSON and Bundles, gzip, per-line errors, resumable, API validation.

The command runs as a child process, as an operator runs it, on the test
session's database; what it stored is then read back through the API of an
app built on the same database.
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.conftest import AppClient, make_settings

from ._run import fhir_server

pytestmark = pytest.mark.asyncio(loop_scope="session")


def patient(i: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": f"lp{i}", "name": [{"family": f"Durand{i}"}]}


def weight(i: int, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"lw{i}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-01-0" + str(1 + i % 9),
        "valueQuantity": {
            "value": 20 + i,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        },
    }


def write_inputs(folder: Path) -> None:
    folder.mkdir()
    lines = [json.dumps(patient(i)) for i in range(12)]
    lines.insert(3, "{not json")  # line 4
    lines.insert(6, json.dumps({"hello": "world"}))  # line 7: not a resource
    bad = patient(99) | {"gender": "robot"}  # refused by the API (code not in the value set)
    lines.insert(9, json.dumps(bad))  # line 10
    lines.append("")  # blank lines are not resources, nor errors
    with gzip.open(folder / "a-patients.ndjson.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": weight(i, f"Patient/lp{i}")} for i in range(5)]
        + [{"resource": weight(9, "Patient/nobody")}],  # a dangling reference: refused
    }
    (folder / "b-weights.json").write_text(json.dumps(collection))
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7c4a1b52-0000-4000-8000-000000000001",
                "resource": {"resourceType": "Patient", "name": [{"family": "Tx"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": weight(50, "urn:uuid:7c4a1b52-0000-4000-8000-000000000001"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    (folder / "c-transaction.json").write_text(json.dumps(transaction))
    (folder / "notes.txt").write_text("not an input")


async def test_load_imports_reports_bad_lines_and_resumes(tmp_path: Path, mongo_uri: str) -> None:
    folder = tmp_path / "in"
    write_inputs(folder)
    database = f"t_{uuid.uuid4().hex[:10]}"
    env = {"FHIR_MONGODB_URI": mongo_uri, "FHIR_DATABASE": database, "FHIR_LOG_LEVEL": "WARNING"}
    env["FHIR_DATA_DIR"] = str(tmp_path / "data")
    result = fhir_server("load", str(folder), "--batch", "4", cwd=tmp_path, timeout=300, **env)
    assert result.returncode == 1, result.stderr  # some lines failed
    assert "loaded 19 resources" in result.stderr, result.stderr  # 12 + 5 + 2
    errors = [
        json.loads(x)
        for x in (tmp_path / "in.load-errors.ndjson").read_text().splitlines()
        if x.strip()
    ]
    where = {(Path(e["file"]).name, e["line"]) for e in errors}
    assert where == {
        ("a-patients.ndjson.gz", 4),
        ("a-patients.ndjson.gz", 7),
        ("a-patients.ndjson.gz", 10),
        ("b-weights.json", 6),
    }, errors
    refused = next(e for e in errors if e["line"] == 10)
    assert str(refused["status"]).startswith("4") and refused["resource"] == "Patient/lp99"

    settings = make_settings(mongo_uri, database=database)
    async with AppClient(settings, drop=False) as http:
        r = await http.get("/Patient", params={"_count": "100", "_summary": "count"})
        assert r.json()["total"] == 13  # 12 lines + the transaction's patient
        r = await http.get("/Observation", params={"code": "http://loinc.org|29463-7"})
        assert len(r.json()["entry"]) == 6  # 5 from the collection + 1 from the transaction
        assert (await http.get("/Patient/lp99")).status_code == 404
        assert (await http.get("/Patient/lp11")).status_code == 200

    # run again: everything acknowledged is skipped, nothing is loaded twice
    again = fhir_server("load", str(folder), "--batch", "4", cwd=tmp_path, timeout=300, **env)
    assert "loaded 0 resources" in again.stderr, again.stderr
    client: MongoClient[Any] = MongoClient(mongo_uri)
    try:
        assert client[database]["Patient"].count_documents({}) == 13
        assert client[database]["_history"].count_documents({"t": "Patient", "vid": 2}) == 0
    finally:
        client.drop_database(database)
        client.close()


async def test_chunks_in_flight_save_progress_in_order(tmp_path: Path, mongo_uri: str) -> None:
    """Three chunks at once: every line answered once, the state at the file's last line."""
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [json.dumps(patient(100 + i)) for i in range(30)]
    lines[7] = "{broken"  # line 8
    lines[22] = json.dumps(patient(122) | {"birthDate": "yesterday"})  # line 23: refused
    source = folder / "patients.ndjson"
    source.write_text("\n".join(lines) + "\n")
    database = f"t_{uuid.uuid4().hex[:10]}"
    env = {"FHIR_MONGODB_URI": mongo_uri, "FHIR_DATABASE": database, "FHIR_LOG_LEVEL": "WARNING"}
    env["FHIR_DATA_DIR"] = str(tmp_path / "data")
    args = ("load", str(source), "--batch", "3", "--concurrency", "3")
    result = fhir_server(*args, cwd=tmp_path, timeout=300, **env)
    assert result.returncode == 1, result.stderr
    assert "loaded 28 resources" in result.stderr, result.stderr
    state = json.loads((folder / "patients.ndjson.load-state.json").read_text())
    assert state["files"] == {str(source): 30}
    errors = [
        json.loads(x)
        for x in (folder / "patients.ndjson.load-errors.ndjson").read_text().splitlines()
        if x.strip()
    ]
    assert sorted(e["line"] for e in errors) == [8, 23], errors
    again = fhir_server(*args, cwd=tmp_path, timeout=300, **env)
    assert "loaded 0 resources" in again.stderr, again.stderr
    client: MongoClient[Any] = MongoClient(mongo_uri)
    try:
        assert client[database]["Patient"].count_documents({"_id": {"$regex": "^lp1"}}) == 28
        assert client[database]["_history"].count_documents({"t": "Patient", "vid": 2}) == 0
    finally:
        client.drop_database(database)
        client.close()
