"""A server that cannot run correctly refuses to start: status 78, one line, no traceback.

Each case runs ``fhir-server serve`` as a child process, exactly as an
operator would, and reads its exit status and stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from fhir_server.settings import DEFAULT_IG_DIR
from fhir_server.storage.embedded import _find_command, free_port

from ._run import fhir_server

EXIT_CONFIG = 78


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 78, exactly one line on stderr (no traceback) that says ``expected``."""
    errors = [line for line in result.stderr.splitlines() if '"level":"info"' not in line]
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert errors[0].startswith("fhir-server: cannot start: ")
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def serve(tmp_path: Path, mongo_uri: str, **fhir: str) -> subprocess.CompletedProcess[str]:
    settings = {"FHIR_MONGODB_URI": mongo_uri, "FHIR_DATABASE": f"t_{uuid.uuid4().hex[:10]}"}
    settings.update(fhir)
    return fhir_server("serve", "--port", str(free_port()), cwd=tmp_path, **settings)


def copy_ig(tmp_path: Path) -> Path:
    ig = tmp_path / "ig"
    shutil.copytree(DEFAULT_IG_DIR, ig)
    return ig


def test_missing_ig_folder(tmp_path: Path, mongo_uri: str) -> None:
    missing = tmp_path / "no-such-ig"
    result = serve(tmp_path, mongo_uri, FHIR_IG_DIR=str(missing))
    assert_refused(result, "FHIR_IG_DIR", str(missing), "is not a directory")


def test_ig_without_index(tmp_path: Path, mongo_uri: str) -> None:
    ig = copy_ig(tmp_path)
    (ig / "index.json").unlink()
    result = serve(tmp_path, mongo_uri, FHIR_IG_DIR=str(ig))
    assert_refused(result, "FHIR_IG_DIR", str(ig / "index.json"), "is missing")


def test_ig_index_listing_a_missing_file(tmp_path: Path, mongo_uri: str) -> None:
    ig = copy_ig(tmp_path)
    (ig / "StructureDefinition-mrtc-patient.json").unlink()
    result = serve(tmp_path, mongo_uri, FHIR_IG_DIR=str(ig))
    assert_refused(result, "cannot read", "StructureDefinition-mrtc-patient.json")


def test_ig_file_that_is_not_json(tmp_path: Path, mongo_uri: str) -> None:
    ig = copy_ig(tmp_path)
    (ig / "ValueSet-mrtc-gender-ins.json").write_text('{"resourceType": "ValueSet",')
    result = serve(tmp_path, mongo_uri, FHIR_IG_DIR=str(ig))
    assert_refused(result, "ValueSet-mrtc-gender-ins.json", "is not valid JSON")


def test_ig_resource_that_is_not_valid_fhir_refuses_and_stores_nothing(
    tmp_path: Path, mongo_uri: str
) -> None:
    ig = copy_ig(tmp_path)
    path = ig / "ValueSet-mrtc-gender-ins.json"
    resource = json.loads(path.read_text())
    resource["compose"] = "not an object"
    path.write_text(json.dumps(resource))
    database = f"t_{uuid.uuid4().hex[:10]}"
    result = serve(tmp_path, mongo_uri, FHIR_IG_DIR=str(ig), FHIR_DATABASE=database)
    assert_refused(result, "FHIR_IG_DIR", "ValueSet/mrtc-gender-ins")
    with MongoClient(mongo_uri) as client:
        stored = client[database]["StructureDefinition"].count_documents({})
        client.drop_database(database)
    assert stored == 0, "a refused guide must not be stored in part"


INVALID_SETTINGS = {
    "FHIR_MAX_COUNT": "lots",
    "FHIR_DEFAULT_COUNT": "0",
    "FHIR_BASE_URL": "fhir.example.org/fhir",
    "FHIR_MAX_BODY_BYTES": "-1",
    "FHIR_EMBEDDED_CACHE_SIZE": "a lot",
    "FHIR_LOG_LEVEL": "chatty",
    "FHIR_DATABASE": "a/b",
}


def test_invalid_settings_are_each_named(tmp_path: Path, mongo_uri: str) -> None:
    result = serve(tmp_path, mongo_uri, **INVALID_SETTINGS)
    line = assert_refused(result, "invalid setting ")
    for variable, value in INVALID_SETTINGS.items():
        assert f"{variable}='{value}': " in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FHIR_UNKNOWN_PROFILE_SEVERITY", "fatal"),  # the profiles group
        ("FHIR_SEARCH_MAX_INCLUDE", "0"),  # the search group
        ("FHIR_SEARCH_INDEXES", "Patient name"),
        ("FHIR_DIRECTORY", "yellow-pages"),  # the directory group, an aliased variable
        ("FHIR_SMTP_URL", "http://mail.example.org"),  # the notify group
    ],
)
def test_invalid_group_setting_names_the_variable(
    tmp_path: Path, mongo_uri: str, variable: str, value: str
) -> None:
    result = serve(tmp_path, mongo_uri, **{variable: value})
    assert_refused(result, f"invalid setting {variable}='{value}': ")


def test_rule_across_settings(tmp_path: Path, mongo_uri: str) -> None:
    result = serve(tmp_path, mongo_uri, FHIR_DEFAULT_COUNT="50", FHIR_MAX_COUNT="10")
    assert_refused(result, "FHIR_DEFAULT_COUNT (50) exceeds FHIR_MAX_COUNT (10)")


def test_mongodb_uri_password_is_never_printed(tmp_path: Path) -> None:
    result = fhir_server(
        "serve", cwd=tmp_path, FHIR_MONGODB_URI="postgres://admin:hunter2@db", FHIR_MAX_COUNT="x"
    )
    line = assert_refused(result, "FHIR_MONGODB_URI=", "FHIR_MAX_COUNT=")
    assert "hunter2" not in line


def test_enforced_profile_setting_that_names_nothing(tmp_path: Path, mongo_uri: str) -> None:
    result = serve(tmp_path, mongo_uri, FHIR_ENFORCE_PROFILES="Patient=https://nowhere/sd")
    assert_refused(result, "FHIR_ENFORCE_PROFILES")


def test_data_directory_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "occupied"
    blocker.write_text("not a directory")
    result = fhir_server(
        "serve", "--port", str(free_port()), "--data", str(blocker / "db"), cwd=tmp_path
    )
    assert_refused(result, "FHIR_DATA_DIR (--data)", str(blocker / "db"), "cannot be created")
    result = fhir_server(
        "serve", "--port", str(free_port()), cwd=tmp_path, FHIR_DATA_DIR=str(blocker)
    )
    assert_refused(result, "FHIR_DATA_DIR", "exists and is not a directory")


def test_unreachable_mongodb(tmp_path: Path) -> None:
    uri = f"mongodb://fhir:s3cret@127.0.0.1:{free_port()}/?directConnection=true"
    result = fhir_server("serve", cwd=tmp_path, FHIR_MONGODB_URI=uri, FHIR_DB_TIMEOUT_MS="300")
    line = assert_refused(result, "cannot reach the MongoDB", "FHIR_DB_TIMEOUT_MS=300")
    assert "s3cret" not in line and "fhir:***@" in line


@pytest.fixture(scope="module")
def standalone_mongodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB-wire server that says it is a standalone (no replica set, no transactions)."""
    port = free_port()
    data = tmp_path_factory.mktemp("standalone")
    proc = subprocess.Popen(
        [
            _find_command("secantusd-py"),
            "--standalone",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with MongoClient(uri, serverSelectionTimeoutMS=300) as client:
                    client.admin.command("ping")
                break
            except Exception:
                assert time.monotonic() < deadline and proc.poll() is None, "no standalone server"
                time.sleep(0.1)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_standalone_mongodb(tmp_path: Path, standalone_mongodb: str) -> None:
    result = fhir_server("serve", cwd=tmp_path, FHIR_MONGODB_URI=standalone_mongodb)
    assert_refused(result, "is a standalone server", "replica set", "FHIR_MONGODB_URI")
