"""Every core invariant the server evaluates, on a minimal valid and invalid instance.

Issue #15: the R4 core constraints are evaluated as HL7's and Firely's
validators evaluate them (``fhir_server/profiles/core_corrections.py``,
docs/decisions/0010-core-invariants.md). Instances go through ``$validate``
over HTTP, so the structural parse runs first exactly as on a write.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.profiles.core_corrections import CORRECTIONS, SKIPPED, corrected
from fhir_server.resource_types import is_supported
from tests.profiles.core_invariant_cases import CASES, Case

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "fhir_server" / "data" / "fhir-r4" / "structuredefinitions.json.gz"
DECISION = ROOT / "docs" / "decisions" / "0010-core-invariants.md"


def evaluated_invariants() -> dict[str, set[str]]:
    """id -> paths, for every error-level core constraint a write can reach.

    Read from the shipped definitions: resources this server supports and data
    types (constraint profiles such as SimpleQuantity are never walked), minus
    the constraints the reference validators do not evaluate as FHIRPath. A key
    used by constraints with different expressions gets one id per element.
    """
    bundle = json.loads(gzip.decompress(DEFINITIONS.read_bytes()))
    by_key: dict[str, dict[str, set[str]]] = {}
    for e in bundle["entry"]:
        sd = e["resource"]
        if sd.get("derivation") == "constraint":
            continue
        if sd["kind"] == "resource" and not is_supported(sd["type"]):
            continue
        for element in sd["snapshot"]["element"]:
            for c in element.get("constraint", []):
                if c.get("severity") != "error" or c["key"] in SKIPPED:
                    continue
                expression = corrected(c["key"], c["expression"]) or ""
                by_key.setdefault(c["key"], {}).setdefault(expression, set()).add(element["path"])
    out: dict[str, set[str]] = {}
    for key, expressions in by_key.items():
        if len(expressions) == 1:
            out[key] = set().union(*expressions.values())
        else:
            for paths in expressions.values():
                out[f"{key}@{min(paths)}"] = paths
    return out


def test_every_evaluated_core_invariant_has_a_case() -> None:
    evaluated = evaluated_invariants()
    assert len(evaluated) > 190
    assert sorted(evaluated) == sorted(c.id for c in CASES)


async def validate(
    client: httpx.AsyncClient, resource: dict[str, Any], *, everything: bool = False
) -> list[dict[str, Any]]:
    """The error issues ``$validate`` reports for ``resource`` (wrapped, so Parameters work)."""
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": resource}]}
    r = await client.post(f"/{resource['resourceType']}/$validate", json=body)
    assert r.status_code == 200, r.text
    issues = r.json()["issue"]
    return issues if everything else [i for i in issues if i["severity"] in ("error", "fatal")]


def msg_id(issue: dict[str, Any]) -> str:
    return str(issue.get("details", {}).get("coding", [{}])[0].get("code"))


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_core_invariant_on_valid_and_invalid_instances(
    client: httpx.AsyncClient, case: Case
) -> None:
    valid = await validate(client, case.resource("valid"))
    assert valid == [], valid
    invalid = await validate(client, case.resource("invalid"), everything=case.engine_limit)
    ids = [msg_id(i) for i in invalid]
    if case.never_fails:
        assert ids == [], invalid  # documented in docs/decisions/0010-core-invariants.md
        return
    if case.engine_limit:
        [limit] = [i for i in invalid if case.key in i["diagnostics"]]
        assert (limit["severity"], msg_id(limit)) == ("information", "MRTC-PRF-012")
        return
    assert ("MRTC-REST-012" in ids) is case.refused_by_structure, invalid
    assert case.key in ids, invalid


def test_the_decision_record_lists_every_correction() -> None:
    text = DECISION.read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", text, re.M)}
    for c in CORRECTIONS:
        assert c.key in rows, c.key
        row = rows[c.key]
        if c.corrected is None:
            assert "not evaluated" in row, c.key
        else:
            assert c.corrected.replace("|", "\\|") in row, c.key
