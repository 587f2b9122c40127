"""``fhir-server`` commands: help, version, config (secrets masked) and ig check."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fhir_server import __version__
from fhir_server.cli import main
from fhir_server.settings import DEFAULT_IG_DIR, shown

from ._run import fhir_server


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("FHIR_"):
            monkeypatch.delenv(name)
    return CliRunner()


def test_help_lists_the_commands_by_section(tmp_path: Path) -> None:
    result = fhir_server("--help", cwd=tmp_path)
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("Usage: fhir-server [OPTIONS] COMMAND [ARGS]...")
    assert out.index("Run commands:") < out.index("  serve ") < out.index("Inspect commands:")
    assert out.index("Inspect commands:") < out.index("  config ")
    assert "  ig " in out and "--version" in out


def test_version(tmp_path: Path) -> None:
    result = fhir_server("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fhir-server {__version__} (FHIR R4 4.0.1)"


def test_serve_help_documents_its_options(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data", "FHIR_MONGODB_URI"):
        assert option in result.output


def test_config_prints_every_setting_with_secrets_masked(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FHIR_MONGODB_URI", "mongodb://fhir:pa55word@db1,db2/?replicaSet=rs0&authSource=admin"
    )
    monkeypatch.setenv("FHIR_SEARCH_MAX_INCLUDE", "50")
    monkeypatch.setenv("FHIR_LOG_LEVEL", "debug")
    result = runner.invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.splitlines())
    assert "pa55word" not in result.output
    assert lines["FHIR_MONGODB_URI"] == (
        "mongodb://fhir:***@db1,db2/?replicaSet=rs0&authSource=admin"
    )
    assert lines["FHIR_SEARCH_MAX_INCLUDE"] == "50"
    assert lines["FHIR_LOG_LEVEL"] == "DEBUG"
    assert lines["FHIR_IG_DIR"] == str(DEFAULT_IG_DIR)
    assert lines["FHIR_ENFORCE_PROFILES"] == ""


def test_config_masks_settings_named_like_secrets() -> None:
    assert shown("FHIR_AUTH_SIGNING_SECRET", "abc") == "***"
    assert shown("FHIR_AUTH_CLIENT_PASSWORD", "abc") == "***"
    assert shown("FHIR_AUTH_TOKEN_TTL", "abc") == "***"
    assert shown("FHIR_AUTH_ISSUER", "https://u:p@idp/x?client_secret=z") == (
        "https://u:***@idp/x?client_secret=***"
    )


def test_config_refuses_an_invalid_setting(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIR_MAX_COUNT", "many")
    result = runner.invoke(main, ["config"])
    assert result.exit_code == 78
    assert "invalid setting FHIR_MAX_COUNT='many'" in result.output


def test_ig_check_passes_on_the_shipped_guide(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ig", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("OK")
    assert str(DEFAULT_IG_DIR) in result.output


def test_ig_check_reports_each_problem(runner: CliRunner, tmp_path: Path) -> None:
    ig = tmp_path / "ig"
    shutil.copytree(DEFAULT_IG_DIR, ig)
    example = ig / "Patient-example-lea.json"
    patient = json.loads(example.read_text())
    del patient["birthDate"]  # required by mrtc-patient, which the example claims
    example.write_text(json.dumps(patient))
    result = runner.invoke(main, ["ig", "check", str(ig)])
    assert result.exit_code == 1
    assert "Patient/example-lea against" in result.output
    assert "Patient.birthDate" in result.output
    assert "problem(s)" in result.output and "not listed" not in result.output

    (ig / "Basic-stray.json").write_text('{"resourceType": "Basic", "id": "stray"}')
    valueset = ig / "ValueSet-mrtc-gender-ins.json"
    broken = json.loads(valueset.read_text())
    broken["compose"] = "not an object"
    valueset.write_text(json.dumps(broken))
    result = runner.invoke(main, ["ig", "check", str(ig)])
    assert result.exit_code == 1
    assert "Basic-stray.json: in the folder but not listed in index.json" in result.output
    assert "ValueSet/mrtc-gender-ins: not a valid ValueSet" in result.output
    assert "profiles not compiled" in result.output
