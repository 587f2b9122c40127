"""``python -m fhir_server.profiles``: the offline validator IG authors and operators use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_server.profiles.__main__ import main as cli_main

from ._data import PATIENT


def test_offline_validation_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"resourceType": "Patient", "gender": "female"}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resourceType": "Patient"}))
    assert cli_main([str(good), "--ig", str(fixtures)]) == 0
    assert cli_main([str(bad), "--ig", str(fixtures), "--profile", PATIENT]) == 1
    out = capsys.readouterr().out
    assert '"Patient.birthDate"' in out
