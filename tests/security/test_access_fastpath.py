"""The access keys (``mrtc-access``) walked without the FHIRPath engine give the engine's values.

Every write, and every read's AuditEvent, extracts its access keys; the
generated ``Type.select(...)`` expressions go through the JSON walker
(``search.fastpath``), which must agree with the engine on every type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fhir_server.search.fastpath import compile_simple
from fhir_server.search.registry import SearchParameterRegistry, compile_expression
from fhir_server.security.audit import audit_event
from fhir_server.security.compartment import PRIVATE_TYPES, PatientCompartment
from tests.search.test_fastpath import corpus

ROOT = Path(__file__).resolve().parents[2]


def resources() -> list[dict[str, Any]]:
    out = corpus()
    out += [
        audit_event(
            principal=None,
            action="R",
            subtypes=[("http://hl7.org/fhir/restful-interaction", "read")],
            outcome="0",
            what=["Observation/o1", "Patient/p2"],
            patients=["p1", "p2"],
        ),
        {
            "resourceType": "Task",
            "id": "t",
            "status": "ready",
            "intent": "order",
            "for": {"reference": "Patient/p1"},
            "focus": {"reference": "Patient/p1"},
            "owner": {"reference": "PractitionerRole/r1"},
            "restriction": {"recipient": [{"reference": "Organization/o1"}]},
        },
        {
            "resourceType": "DocumentReference",
            "id": "d",
            "status": "current",
            "subject": {"reference": "Group/g"},
            "context": {"related": [{"reference": "Task/t"}, {"reference": "Patient/p1"}]},
        },
        {"resourceType": "Binary", "id": "b", "contentType": "text/plain"},
        {
            "resourceType": "Binary",
            "id": "b2",
            "securityContext": {"reference": "DocumentReference/d"},
        },
        {"resourceType": "Observation", "id": "lonely", "status": "final", "code": {}},
    ]
    for r in list(out):
        if r.get("resourceType") == "AuditEvent" and "id" not in r:
            r["id"] = "ae"
    return out


def test_access_keys_walked_as_the_engine_computes_them() -> None:
    registry = SearchParameterRegistry.load_default()
    for path in sorted((ROOT / "ig").glob("SearchParameter-*.json")):
        registry.add(json.loads(path.read_text()))
    params = PatientCompartment.load().access_parameters(registry)
    assert len(params) > 20
    walked = 0
    corpus_ = resources()
    for sp in params:
        walker = compile_simple(sp["expression"])
        if sp["base"][0] in PRIVATE_TYPES:
            # owner-private resources (saved dashboard filters) keep the engine: their
            # iif() on a coding is outside the walker's shapes, and they are rare writes
            walked += 1
            continue
        assert walker is not None, sp["expression"]
        walked += 1
        engine = compile_expression(sp["expression"])
        for resource in corpus_:
            assert walker(resource) == engine(resource), (sp["base"], resource.get("id"))
    assert walked == len(params)
