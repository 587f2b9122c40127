"""Every IG resource survives JSON -> XML -> JSON unchanged.

The IG holds the examples (patients, observations with decimals, care plans,
questionnaire responses with nested items) and the conformance resources
(profiles whose ElementDefinitions use every choice type, search parameters,
operation definitions, code systems): together they exercise most of the R4
shapes the server stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree

from fhir_server.api.xml import json_to_xml, xml_to_json

IG = Path(__file__).resolve().parents[3] / "ig"
FILES = sorted(p for p in IG.glob("*.json") if p.name != "index.json")


def _load(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())


def test_the_ig_has_examples_and_conformance_resources() -> None:
    types = {_load(p)["resourceType"] for p in FILES}
    assert {"Patient", "Observation", "StructureDefinition", "OperationDefinition"} <= types
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("pretty", [False, True], ids=["compact", "pretty"])
def test_json_to_xml_to_json_is_identity(path: Path, pretty: bool) -> None:
    original = _load(path)
    xml = json_to_xml(original, pretty=pretty)
    assert orjson.loads(xml_to_json(xml)) == original


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_xml_written_is_read_back_to_the_same_xml(path: Path) -> None:
    xml = json_to_xml(_load(path))
    again = json_to_xml(orjson.loads(xml_to_json(xml)))
    assert again == xml
    root = etree.fromstring(xml)
    assert root.tag == "{http://hl7.org/fhir}" + _load(path)["resourceType"]
