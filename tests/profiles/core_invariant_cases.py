"""A minimal valid and a minimal invalid instance of every core invariant the server evaluates.

One ``Case`` per constraint: the key, the resource type it is tested on, and
two instances that differ only in what the constraint is about. Data-type
invariants (Period, Timing, Reference...) are tested on a ``Basic`` carrying
the value in an extension, which the validator checks like any element.
Where a key is shared by different constraints (``inv-1``), ``context``
names the element.

Three kinds of constraint cannot be shown failing the ordinary way, and say why:

* ``refused_by_structure``: the structural parse (the ``fhir.resources``
  models) refuses the invalid instance too - a write answers 400 before any
  invariant runs; ``$validate`` reports both;
* ``engine_limit``: fhirpathpy cannot evaluate the expression on the invalid
  instance (``rng-2`` compares two Quantities); the validator reports it as
  information (MRTC-PRF-012) and does not block the write;
* ``never_fails``: as published, and as both reference validators evaluate
  it, the expression holds for every instance (``eld-11``: ``select(..)``
  yields ``false`` items, and ``exists()`` of ``[false]`` is true).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UCUM = "http://unitsofmeasure.org"
REF = {"display": "someone"}
CC = {"text": "something"}
DIV = '<div xmlns="http://www.w3.org/1999/xhtml">text</div>'


@dataclass(frozen=True)
class Case:
    key: str
    type: str
    valid: dict[str, Any]
    invalid: dict[str, Any]
    context: str = ""  # element, when one key names several constraints
    refused_by_structure: bool = False
    engine_limit: bool = False
    never_fails: bool = False
    base: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.key}@{self.context}" if self.context else self.key

    def resource(self, which: str) -> dict[str, Any]:
        body = {"resourceType": self.type, **BASES.get(self.type, {}), **self.base}
        body.update(self.valid if which == "valid" else self.invalid)
        return without_nulls(body)  # type: ignore[no-any-return]


BASES: dict[str, dict[str, Any]] = {
    "Basic": {"code": CC},
    "AllergyIntolerance": {"patient": REF},
    "Appointment": {"status": "proposed", "participant": [{"actor": REF, "status": "accepted"}]},
    "AppointmentResponse": {"appointment": REF, "participantStatus": "accepted"},
    "AuditEvent": {
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110100"},
        "recorded": "2020-01-01T00:00:00Z",
        "agent": [{"requestor": True, "who": REF}],
        "source": {"observer": REF},
    },
    "CapabilityStatement": {
        "status": "draft",
        "date": "2020-01-01",
        "kind": "capability",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "software": {"name": "x"},
        "rest": [{"mode": "server"}],
    },
    "CarePlan": {"status": "active", "intent": "plan", "subject": REF},
    "CodeSystem": {"status": "draft", "content": "complete"},
    "Composition": {
        "status": "final",
        "type": CC,
        "date": "2020-01-01",
        "author": [REF],
        "title": "t",
    },
    "ConceptMap": {"status": "draft"},
    "Condition": {"subject": REF},
    "Consent": {
        "status": "active",
        "scope": CC,
        "category": [CC],
        "policyRule": CC,
    },
    "CoverageEligibilityResponse": {
        "status": "active",
        "purpose": ["validation"],
        "patient": REF,
        "created": "2020-01-01",
        "request": REF,
        "outcome": "complete",
        "insurer": REF,
    },
    "FamilyMemberHistory": {"status": "completed", "patient": REF, "relationship": CC},
    "Goal": {"lifecycleStatus": "active", "description": CC, "subject": REF},
    "Group": {"type": "person", "actual": False},
    "Immunization": {
        "status": "completed",
        "vaccineCode": CC,
        "patient": REF,
        "occurrenceDateTime": "2020-01-01",
    },
    "ImmunizationRecommendation": {"patient": REF, "date": "2020-01-01"},
    "ImplementationGuide": {
        "url": "http://example.org/ImplementationGuide/ig",
        "name": "Ig",
        "status": "draft",
        "packageId": "example.ig",
        "fhirVersion": ["4.0.1"],
    },
    "List": {"status": "current", "mode": "working"},
    "MedicationAdministration": {
        "status": "completed",
        "medicationCodeableConcept": CC,
        "subject": REF,
        "effectiveDateTime": "2020-01-01",
    },
    "MedicationDispense": {"status": "completed", "medicationCodeableConcept": CC},
    "Measure": {"status": "draft"},
    "MeasureReport": {
        "status": "complete",
        "type": "individual",
        "measure": "http://example.org/Measure/m",
        "period": {"start": "2020-01-01"},
    },
    "MessageDefinition": {
        "status": "draft",
        "date": "2020-01-01",
        "eventCoding": {"system": "urn:example", "code": "e"},
    },
    "MolecularSequence": {"coordinateSystem": 0},
    "NamingSystem": {"name": "ns", "status": "draft", "kind": "root", "date": "2020-01-01"},
    "Observation": {"status": "final", "code": CC},
    "OperationDefinition": {
        "name": "Op",
        "status": "draft",
        "kind": "operation",
        "code": "op",
        "system": False,
        "type": False,
        "instance": True,
    },
    "QuestionnaireResponse": {"status": "completed"},
    "Questionnaire": {"status": "draft"},
    "RequestGroup": {"status": "active", "intent": "order"},
    "RiskAssessment": {"status": "final", "subject": REF},
    "SearchParameter": {
        "url": "http://example.org/SearchParameter/sp",
        "name": "sp",
        "status": "draft",
        "description": "d",
        "code": "c",
        "base": ["Patient"],
        "type": "string",
        "expression": "Patient.name",
    },
    "ServiceRequest": {"status": "active", "intent": "order", "subject": REF},
    "StructureDefinition": {
        "url": "http://example.org/StructureDefinition/thing",
        "name": "Thing",
        "status": "draft",
        "kind": "logical",
        "abstract": True,
        "type": "Thing",
        "derivation": "specialization",
        "differential": {"element": [{"id": "Thing", "path": "Thing"}]},
    },
    "StructureMap": {"url": "http://example.org/StructureMap/sm", "name": "Sm", "status": "draft"},
    "SubscriptionStatus": {"status": "active", "type": "handshake", "subscription": REF},
    "Task": {"status": "draft", "intent": "order"},
    "TerminologyCapabilities": {
        "status": "draft",
        "date": "2020-01-01",
        "kind": "capability",
        "software": {"name": "x"},
    },
    "TestReport": {"status": "completed", "testScript": REF, "result": "pass"},
    "TestScript": {"url": "http://example.org/TestScript/ts", "name": "Ts", "status": "draft"},
    "ValueSet": {"status": "draft"},
}


def ext(key: str, value: Any) -> dict[str, Any]:
    """A Basic whose extension carries ``value`` as ``key`` (valuePeriod, valueTiming...)."""
    return {"extension": [{"url": "http://example.org/fhir/StructureDefinition/x", key: value}]}


def timing(**repeat: Any) -> dict[str, Any]:
    return ext("valueTiming", {"repeat": repeat})


def ucum(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def bundle(kind: str, *entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, **extra}
    if entries:  # FHIR JSON has no empty arrays
        out["entry"] = list(entries)
    return out


PATIENT = {"resourceType": "Patient", "gender": "female"}
COMPOSITION = {"resourceType": "Composition", **BASES["Composition"]}
MESSAGE_HEADER = {
    "resourceType": "MessageHeader",
    "eventCoding": {"system": "urn:example", "code": "e"},
    "source": {"endpoint": "http://example.org/endpoint"},
}
DOC_ID = {"identifier": {"system": "urn:example:docs", "value": "1"}}
NOW = {"timestamp": "2020-01-01T00:00:00Z"}


def entry(resource: dict[str, Any], n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}",
        "resource": resource,
        **extra,
    }


def capability(**fields: Any) -> dict[str, Any]:
    return fields


def contained_basic(**fields: Any) -> dict[str, Any]:
    """A Basic pointing at a contained Basic ``c`` (so dom-3 holds) with ``fields``."""
    inner = {"resourceType": "Basic", "id": "c", "code": CC, **fields}
    return {"subject": {"reference": "#c"}, "contained": [inner]}


def careteam(member_type: str) -> dict[str, Any]:
    return {
        "contained": [
            {
                "resourceType": member_type,
                "id": "m",
                **({"name": "x"} if member_type == "Organization" else {}),
            },
            {"resourceType": "Organization", "id": "o", "name": "o"},
        ],
        "participant": [{"member": {"reference": "#m"}, "onBehalfOf": {"reference": "#o"}}],
    }


def element(path: str, **fields: Any) -> dict[str, Any]:
    return {"id": path, "path": path, **fields}


def snap(path: str, **fields: Any) -> dict[str, Any]:
    base = {"path": path, "min": 0, "max": "*"}
    return {
        "id": path,
        "path": path,
        "definition": "d",
        "min": 0,
        "max": "*",
        "base": base,
        **fields,
    }


def differential(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"differential": {"element": [element("Thing"), *extra]}}


def snapshot(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"snapshot": {"element": list(elements)}}


def eld(**fields: Any) -> dict[str, Any]:
    """A StructureDefinition whose second differential element has ``fields``."""
    return differential(element("Thing.a", **fields))


def questionnaire(*items: dict[str, Any]) -> dict[str, Any]:
    return {"item": list(items)}


def item(link_id: str = "1", type_: str = "string", **fields: Any) -> dict[str, Any]:
    return {"linkId": link_id, "type": type_, **fields}


def display(**fields: Any) -> dict[str, Any]:
    return item("1", "display", text="t", **fields)


ASSERT = {"warningOnly": False, "path": "x"}
OPERATION = {"url": "http://example.org/fhir/Patient", "encodeRequestUrl": True}


def setup(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"setup": {"action": list(actions)}}


def test_(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"test": [{"action": list(actions)}]}


def vs_include(**fields: Any) -> dict[str, Any]:
    return {"compose": {"include": [fields]}}


def vs_contains(**fields: Any) -> dict[str, Any]:
    return {"expansion": {"timestamp": "2020-01-01T00:00:00Z", "contains": [fields]}}


TSX = "http://terminology.hl7.org/CodeSystem/"
CLINICAL = TSX + "condition-clinical"
ALLERGY_VERIFICATION = TSX + "allergyintolerance-verification"
ALLERGY_CLINICAL = TSX + "allergyintolerance-clinical"


def coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


CASES: list[Case] = [
    # -- data types, on a Basic's extension -----------------------------------
    Case(
        "age-1",
        "Basic",
        ext("valueAge", ucum(3, "a")),
        ext("valueAge", {"value": 3, "system": UCUM}),
    ),
    Case(
        "qty-3",
        "Basic",
        ext("valueQuantity", ucum(1, "kg")),
        ext("valueQuantity", {"value": 1, "code": "kg"}),
    ),
    Case(
        "att-1",
        "Basic",
        ext("valueAttachment", {"contentType": "text/plain", "data": "aGk="}),
        ext("valueAttachment", {"data": "aGk="}),
    ),
    Case(
        "cpt-2",
        "Basic",
        ext("valueContactPoint", {"system": "phone", "value": "0600"}),
        ext("valueContactPoint", {"value": "0600"}),
    ),
    Case(
        "cnt-3",
        "Basic",
        ext("valueCount", {"value": 2, "system": UCUM, "code": "1"}),
        ext("valueCount", {"value": 2.5, "system": UCUM, "code": "1"}),
    ),
    Case(
        "dis-1",
        "Basic",
        ext("valueDistance", ucum(1, "m")),
        ext("valueDistance", {"value": 1, "system": "http://example.org/units"}),
    ),
    Case(
        "drt-1",
        "Basic",
        ext("valueDuration", ucum(1, "d")),
        ext("valueDuration", {"value": 1, "code": "d", "system": "http://example.org/units"}),
    ),
    Case(
        "drq-1",
        "Basic",
        ext("valueDataRequirement", {"type": "Observation", "codeFilter": [{"path": "code"}]}),
        ext(
            "valueDataRequirement",
            {"type": "Observation", "codeFilter": [{"path": "code", "searchParam": "code"}]},
        ),
    ),
    Case(
        "drq-2",
        "Basic",
        ext("valueDataRequirement", {"type": "Observation", "dateFilter": [{"path": "issued"}]}),
        ext(
            "valueDataRequirement",
            {"type": "Observation", "dateFilter": [{"path": "issued", "searchParam": "date"}]},
        ),
    ),
    Case(
        "exp-1",
        "Basic",
        ext("valueExpression", {"language": "text/fhirpath", "expression": "true"}),
        ext("valueExpression", {"language": "text/fhirpath", "name": "x"}),
    ),
    Case(
        "per-1",
        "Basic",
        ext("valuePeriod", {"start": "2020-01-01", "end": "2020-01-02"}),
        ext("valuePeriod", {"start": "2020-01-02", "end": "2020-01-01"}),
    ),
    Case(
        "rng-2",
        "Basic",
        ext("valueRange", {"low": ucum(1, "kg"), "high": ucum(2, "kg")}),
        ext("valueRange", {"low": ucum(3, "kg"), "high": ucum(2, "kg")}),
        engine_limit=True,
    ),
    Case(
        "rat-1",
        "Basic",
        ext("valueRatio", {"numerator": ucum(1, "mg"), "denominator": ucum(2, "mL")}),
        ext("valueRatio", {"numerator": ucum(1, "mg")}),
    ),
    # ref-1 as corrected: a Reference with only a display is valid (issue #15).
    Case(
        "ref-1",
        "Basic",
        ext("valueReference", {"display": "only a display"}),
        ext("valueReference", {"reference": "#not-contained"}),
    ),
    Case("tim-1", "Basic", timing(duration=1, durationUnit="h"), timing(duration=1)),
    Case("tim-2", "Basic", timing(period=1, periodUnit="d"), timing(period=1)),
    Case(
        "tim-4",
        "Basic",
        timing(duration=1, durationUnit="h"),
        timing(duration=-1, durationUnit="h"),
    ),
    Case("tim-5", "Basic", timing(period=1, periodUnit="d"), timing(period=-1, periodUnit="d")),
    Case(
        "tim-6",
        "Basic",
        timing(period=1, periodMax=2, periodUnit="d"),
        timing(periodMax=2, periodUnit="d"),
    ),
    Case(
        "tim-7",
        "Basic",
        timing(duration=1, durationMax=2, durationUnit="h"),
        timing(durationMax=2, durationUnit="h"),
    ),
    Case("tim-8", "Basic", timing(count=1, countMax=2), timing(countMax=2)),
    Case("tim-9", "Basic", timing(when=["ACM"], offset=30), timing(when=["C"], offset=30)),
    Case(
        "tim-10",
        "Basic",
        timing(timeOfDay=["08:00:00"]),
        timing(timeOfDay=["08:00:00"], when=["MORN"]),
    ),
    Case(
        "trd-1",
        "Basic",
        ext("valueTriggerDefinition", {"type": "periodic", "timingDate": "2020-01-01"}),
        ext(
            "valueTriggerDefinition",
            {"type": "periodic", "timingDate": "2020-01-01", "data": [{"type": "Observation"}]},
        ),
    ),
    Case(
        "trd-2",
        "Basic",
        ext(
            "valueTriggerDefinition",
            {
                "type": "data-changed",
                "data": [{"type": "Observation"}],
                "condition": {"language": "text/fhirpath", "expression": "true"},
            },
        ),
        ext(
            "valueTriggerDefinition",
            {
                "type": "named-event",
                "name": "e",
                "condition": {"language": "text/fhirpath", "expression": "true"},
            },
        ),
    ),
    Case(
        "trd-3",
        "Basic",
        ext("valueTriggerDefinition", {"type": "named-event", "name": "e"}),
        ext("valueTriggerDefinition", {"type": "named-event"}),
    ),
    # -- DomainResource, on a Basic --------------------------------------------
    Case(
        "dom-2",
        "Basic",
        contained_basic(),
        contained_basic(contained=[{"resourceType": "Basic", "id": "d", "code": CC}]),
    ),
    Case(
        "dom-3",
        "Basic",
        contained_basic(),
        {"contained": [{"resourceType": "Basic", "id": "c", "code": CC}]},
    ),
    Case("dom-4", "Basic", contained_basic(), contained_basic(meta={"versionId": "1"})),
    Case(
        "dom-5",
        "Basic",
        contained_basic(),
        contained_basic(meta={"security": [{"system": TSX + "v3-Confidentiality", "code": "R"}]}),
    ),
    # -- resources ---------------------------------------------------------------
    Case(
        "ait-1",
        "AllergyIntolerance",
        {"clinicalStatus": coded(ALLERGY_CLINICAL, "active")},
        {},
    ),
    Case(
        "ait-2",
        "AllergyIntolerance",
        {"verificationStatus": coded(ALLERGY_VERIFICATION, "entered-in-error")},
        {
            "verificationStatus": coded(ALLERGY_VERIFICATION, "entered-in-error"),
            "clinicalStatus": coded(ALLERGY_CLINICAL, "active"),
        },
    ),
    Case(
        "app-1",
        "Appointment",
        {},
        {"participant": [{"status": "accepted"}]},
    ),
    Case(
        "app-2",
        "Appointment",
        {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"},
        {"start": "2020-01-01T10:00:00Z"},
    ),
    Case(
        "app-3",
        "Appointment",
        {"status": "booked", "start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"},
        {"status": "booked"},
    ),
    Case(
        "app-4",
        "Appointment",
        {"status": "cancelled", "cancelationReason": CC},
        {"cancelationReason": CC},
    ),
    Case("apr-1", "AppointmentResponse", {"actor": REF}, {}),
    Case("bdl-1", "Bundle", bundle("searchset", total=0), bundle("collection", total=0)),
    Case(
        "bdl-10",
        "Bundle",
        bundle("document", entry(COMPOSITION), **DOC_ID, **NOW),
        bundle("document", entry(COMPOSITION), **DOC_ID),
    ),
    Case(
        "bdl-11",
        "Bundle",
        bundle("document", entry(COMPOSITION), **DOC_ID, **NOW),
        bundle("document", entry(PATIENT), **DOC_ID, **NOW),
    ),
    Case(
        "bdl-12",
        "Bundle",
        bundle("message", entry(MESSAGE_HEADER)),
        bundle("message", entry(PATIENT)),
    ),
    Case(
        "bdl-2",
        "Bundle",
        bundle("searchset", entry(PATIENT, search={"mode": "match"})),
        bundle("collection", entry(PATIENT, search={"mode": "match"})),
    ),
    Case(
        "bdl-3",
        "Bundle",
        bundle("batch", {"request": {"method": "GET", "url": "Patient"}}),
        bundle("collection", entry(PATIENT, request={"method": "POST", "url": "Patient"})),
    ),
    Case(
        "bdl-4",
        "Bundle",
        bundle("batch-response", {"response": {"status": "200"}}),
        bundle("collection", entry(PATIENT, response={"status": "200"})),
    ),
    Case(
        "bdl-5",
        "Bundle",
        bundle("collection", entry(PATIENT)),
        bundle("collection", {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001"}),
    ),
    Case(
        "bdl-7",
        "Bundle",
        bundle("collection", entry(PATIENT, 1), entry(PATIENT, 2)),
        bundle("collection", entry(PATIENT, 1), entry(PATIENT, 1)),
    ),
    Case(
        "bdl-8",
        "Bundle",
        bundle("collection", {"fullUrl": "http://example.org/fhir/Patient/1", "resource": PATIENT}),
        bundle(
            "collection",
            {"fullUrl": "http://example.org/fhir/Patient/1/_history/1", "resource": PATIENT},
        ),
    ),
    Case(
        "bdl-9",
        "Bundle",
        bundle("document", entry(COMPOSITION), **DOC_ID, **NOW),
        bundle("document", entry(COMPOSITION), **NOW),
    ),
    Case(
        "ces-1",
        "CoverageEligibilityResponse",
        {"insurance": [{"coverage": REF, "item": [{"category": CC}]}]},
        {"insurance": [{"coverage": REF, "item": [{"category": CC, "productOrService": CC}]}]},
    ),
    Case(
        "cmd-1",
        "ConceptMap",
        {
            "group": [
                {"element": [{"code": "a", "target": [{"code": "b", "equivalence": "equivalent"}]}]}
            ]
        },
        {
            "group": [
                {"element": [{"code": "a", "target": [{"code": "b", "equivalence": "narrower"}]}]}
            ]
        },
    ),
    Case(
        "cmd-2",
        "ConceptMap",
        {"group": [{"element": [{"code": "a"}], "unmapped": {"mode": "fixed", "code": "x"}}]},
        {"group": [{"element": [{"code": "a"}], "unmapped": {"mode": "fixed"}}]},
    ),
    Case(
        "cmd-3",
        "ConceptMap",
        {
            "group": [
                {
                    "element": [{"code": "a"}],
                    "unmapped": {"mode": "other-map", "url": "http://example.org/ConceptMap/o"},
                }
            ]
        },
        {"group": [{"element": [{"code": "a"}], "unmapped": {"mode": "other-map"}}]},
    ),
    Case(
        "cmp-1",
        "Composition",
        {"section": [{"title": "s", "text": {"status": "generated", "div": DIV}}]},
        {"section": [{"title": "s"}]},
    ),
    Case(
        "cmp-2",
        "Composition",
        {"section": [{"title": "s", "entry": [REF]}]},
        {"section": [{"title": "s", "entry": [REF], "emptyReason": CC}]},
    ),
    Case("con-1", "Condition", {"stage": [{"summary": CC}]}, {"stage": [{"type": CC}]}),
    Case(
        "con-2",
        "Condition",
        {"evidence": [{"code": [CC]}]},
        {"evidence": [{"extension": [{"url": "http://example.org/x", "valueString": "y"}]}]},
    ),
    Case(
        "con-4",
        "Condition",
        {"abatementDateTime": "2020-01-01", "clinicalStatus": coded(CLINICAL, "resolved")},
        {"abatementDateTime": "2020-01-01", "clinicalStatus": coded(CLINICAL, "active")},
    ),
    Case(
        "con-5",
        "Condition",
        {"verificationStatus": coded(TSX + "condition-ver-status", "entered-in-error")},
        {
            "verificationStatus": coded(TSX + "condition-ver-status", "entered-in-error"),
            "clinicalStatus": coded(CLINICAL, "active"),
        },
    ),
    Case("cpb-1", "CapabilityStatement", {}, {"rest": None}),
    Case(
        "cpb-2",
        "CapabilityStatement",
        {"kind": "requirements", "software": None, "description": "d"},
        {"kind": "requirements", "software": None},
    ),
    Case(
        "cpb-3",
        "CapabilityStatement",
        {
            "kind": "instance",
            "implementation": {"description": "x"},
            "messaging": [
                {
                    "endpoint": [
                        {
                            "protocol": {"system": TSX + "message-transport", "code": "http"},
                            "address": "http://example.org/m",
                        }
                    ]
                }
            ],
        },
        {
            "messaging": [
                {
                    "endpoint": [
                        {
                            "protocol": {"system": TSX + "message-transport", "code": "http"},
                            "address": "http://example.org/m",
                        }
                    ]
                }
            ]
        },
    ),
    Case(
        "cpb-7",
        "CapabilityStatement",
        {"document": [{"mode": "producer", "profile": "http://example.org/p"}]},
        {
            "document": [
                {"mode": "producer", "profile": "http://example.org/p"},
                {"mode": "producer", "profile": "http://example.org/p"},
            ]
        },
    ),
    Case(
        "cpb-9",
        "CapabilityStatement",
        {"rest": [{"mode": "server", "resource": [{"type": "Patient"}, {"type": "Observation"}]}]},
        {"rest": [{"mode": "server", "resource": [{"type": "Patient"}, {"type": "Patient"}]}]},
    ),
    Case(
        "cpb-12",
        "CapabilityStatement",
        {
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": "Patient",
                            "searchParam": [
                                {"name": "a", "type": "string"},
                                {"name": "b", "type": "token"},
                            ],
                        }
                    ],
                }
            ]
        },
        {
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": "Patient",
                            "searchParam": [
                                {"name": "a", "type": "string"},
                                {"name": "a", "type": "token"},
                            ],
                        }
                    ],
                }
            ]
        },
    ),
    Case(
        "cpb-14",
        "CapabilityStatement",
        {"kind": "instance", "implementation": {"description": "x"}},
        {"kind": "instance"},
    ),
    Case("cpb-15", "CapabilityStatement", {}, {"software": None, "description": "d"}),
    Case(
        "cpb-16",
        "CapabilityStatement",
        {"kind": "requirements", "software": None, "description": "d"},
        {"kind": "requirements"},
    ),
    Case(
        "cpl-3",
        "CarePlan",
        {"activity": [{"reference": REF}]},
        {"activity": [{"reference": REF, "detail": {"status": "scheduled"}}]},
    ),
    Case(
        "csd-1",
        "CodeSystem",
        {"concept": [{"code": "a"}, {"code": "b"}]},
        {"concept": [{"code": "a"}, {"code": "a"}]},
    ),
    Case("ctm-1", "CareTeam", careteam("Practitioner"), careteam("Organization")),
    Case(
        "eld-1",
        "StructureDefinition",
        eld(slicing={"rules": "open", "description": "d"}),
        eld(slicing={"rules": "open"}),
    ),
    Case("eld-2", "StructureDefinition", eld(min=1, max="2"), eld(min=2, max="1")),
    Case("eld-3", "StructureDefinition", eld(max="*"), eld(max="x")),
    Case(
        "eld-4",
        "StructureDefinition",
        eld(type=[{"code": "Reference", "aggregation": ["contained"]}]),
        eld(type=[{"code": "string", "aggregation": ["contained"]}]),
    ),
    Case(
        "eld-5",
        "StructureDefinition",
        differential(
            element("Thing.a", type=[{"code": "string"}]),
            element("Thing.b", contentReference="#Thing.a"),
        ),
        differential(
            element("Thing.a", type=[{"code": "string"}]),
            element("Thing.b", contentReference="#Thing.a", type=[{"code": "string"}]),
        ),
    ),
    Case(
        "eld-6",
        "StructureDefinition",
        eld(type=[{"code": "string"}], fixedString="a"),
        eld(type=[{"code": "string"}, {"code": "code"}], fixedString="a"),
    ),
    Case(
        "eld-7",
        "StructureDefinition",
        eld(type=[{"code": "string"}], patternString="a"),
        eld(type=[{"code": "string"}, {"code": "code"}], patternString="a"),
    ),
    Case(
        "eld-8",
        "StructureDefinition",
        eld(type=[{"code": "string"}], patternString="a"),
        eld(type=[{"code": "string"}], patternString="a", fixedString="a"),
    ),
    Case(
        "eld-11",
        "StructureDefinition",
        eld(
            type=[{"code": "code"}],
            binding={"strength": "required", "valueSet": "http://example.org/vs"},
        ),
        eld(
            type=[{"code": "integer"}],
            binding={"strength": "required", "valueSet": "http://example.org/vs"},
        ),
        never_fails=True,
    ),
    Case(
        "eld-12",
        "StructureDefinition",
        eld(
            type=[{"code": "code"}],
            binding={"strength": "required", "valueSet": "http://example.org/vs"},
        ),
        eld(
            type=[{"code": "code"}],
            binding={"strength": "required", "valueSet": "ftp://example.org/vs"},
        ),
    ),
    Case(
        "eld-13",
        "StructureDefinition",
        eld(type=[{"code": "string"}, {"code": "code"}]),
        eld(type=[{"code": "string"}, {"code": "string"}]),
    ),
    Case(
        "eld-14",
        "StructureDefinition",
        eld(
            constraint=[
                {"key": "k1", "severity": "error", "human": "h"},
                {"key": "k2", "severity": "error", "human": "h"},
            ]
        ),
        eld(
            constraint=[
                {"key": "k1", "severity": "error", "human": "h"},
                {"key": "k1", "severity": "error", "human": "h"},
            ]
        ),
    ),
    Case(
        "eld-15",
        "StructureDefinition",
        eld(type=[{"code": "string"}], defaultValueString="a"),
        eld(type=[{"code": "string"}], defaultValueString="a", meaningWhenMissing="m"),
    ),
    Case("eld-16", "StructureDefinition", eld(sliceName="one"), eld(sliceName="one two")),
    Case(
        "eld-17",
        "StructureDefinition",
        eld(
            type=[
                {
                    "code": "Reference",
                    "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"],
                }
            ]
        ),
        eld(
            type=[
                {
                    "code": "string",
                    "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"],
                }
            ]
        ),
    ),
    Case(
        "eld-18",
        "StructureDefinition",
        eld(isModifier=True, isModifierReason="r"),
        eld(isModifier=True),
    ),
    # eld-19 as corrected: the whole path must match (the R4 regex matched anything).
    Case(
        "eld-19",
        "StructureDefinition",
        differential(element("Thing.a")),
        differential({"id": "Thing.b", "path": "Thing.a b"}),
    ),
    Case(
        "eld-22",
        "StructureDefinition",
        eld(sliceName="s", sliceIsConstraining=True),
        eld(sliceIsConstraining=True),
    ),
    Case(
        "evv-1",
        "EvidenceVariable",
        {"status": "draft", "characteristic": [{"definitionCodeableConcept": CC}]},
        {
            "status": "draft",
            "characteristic": [
                {"definitionCodeableConcept": CC, "definitionCanonical": "http://example.org/x"}
            ],
        },
        # separate elements in the shipped definitions, so the invariant refuses two of them
    ),
    Case(
        "fhs-1",
        "FamilyMemberHistory",
        {"ageString": "30"},
        {"ageString": "30", "bornDate": "1990"},
    ),
    Case(
        "fhs-2",
        "FamilyMemberHistory",
        {"ageString": "30", "estimatedAge": True},
        {"estimatedAge": True},
    ),
    Case(
        "gol-1",
        "Goal",
        {"target": [{"measure": CC, "detailString": "x"}]},
        {"target": [{"detailString": "x"}]},
    ),
    Case(
        "grp-1",
        "Group",
        {"actual": True, "member": [{"entity": REF}]},
        {"member": [{"entity": REF}]},
    ),
    Case(
        "ig-1",
        "ImplementationGuide",
        {
            "definition": {
                "grouping": [{"id": "g1", "name": "G"}],
                "resource": [{"reference": {"reference": "Patient/x"}, "groupingId": "g1"}],
            }
        },
        {
            "definition": {
                "grouping": [{"id": "g1", "name": "G"}],
                "resource": [{"reference": {"reference": "Patient/x"}, "groupingId": "g2"}],
            }
        },
    ),
    Case(
        "ig-2",
        "ImplementationGuide",
        {
            "definition": {
                "resource": [{"reference": {"reference": "Patient/x"}, "fhirVersion": ["4.0.1"]}]
            }
        },
        {
            "definition": {
                "resource": [{"reference": {"reference": "Patient/x"}, "fhirVersion": ["3.0.2"]}]
            }
        },
    ),
    Case(
        "imm-1",
        "Immunization",
        {"education": [{"documentType": "x"}]},
        {"education": [{"presentationDate": "2020-01-01"}]},
    ),
    Case(
        "imr-1",
        "ImmunizationRecommendation",
        {"recommendation": [{"vaccineCode": [CC], "forecastStatus": CC}]},
        {"recommendation": [{"forecastStatus": CC}]},
    ),
    Case(
        "inv-1",
        "Parameters",
        {"parameter": [{"name": "a", "valueString": "x"}]},
        {"parameter": [{"name": "a"}]},
        context="Parameters.parameter",
    ),
    Case(
        "inv-1",
        "Task",
        {"authoredOn": "2020-01-01", "lastModified": "2020-01-02"},
        {"authoredOn": "2020-01-02", "lastModified": "2020-01-01"},
        context="Task",
    ),
    Case(
        "inv-1",
        "TestReport",
        {"setup": {"action": [{"operation": {"result": "pass"}}]}},
        {"setup": {"action": [{"operation": {"result": "pass"}, "assert": {"result": "pass"}}]}},
        context="TestReport.setup.action",
    ),
    Case(
        "inv-2",
        "TestReport",
        {"test": [{"action": [{"operation": {"result": "pass"}}]}]},
        {"test": [{"action": [{"operation": {"result": "pass"}, "assert": {"result": "pass"}}]}]},
    ),
    Case("ipn-1", "InsurancePlan", {"name": "plan"}, {"status": "active"}),
    Case(
        "lnk-1",
        "Linkage",
        {"item": [{"type": "source", "resource": REF}, {"type": "alternate", "resource": REF}]},
        {"item": [{"type": "source", "resource": REF}]},
    ),
    Case("lst-1", "List", {"emptyReason": CC}, {"emptyReason": CC, "entry": [{"item": REF}]}),
    Case(
        "lst-2",
        "List",
        {"mode": "changes", "entry": [{"item": REF, "deleted": True}]},
        {"entry": [{"item": REF, "deleted": True}]},
    ),
    Case(
        "lst-3",
        "List",
        {"entry": [{"item": REF, "date": "2020-01-01"}]},
        {"mode": "snapshot", "entry": [{"item": REF, "date": "2020-01-01"}]},
    ),
    Case(
        "mad-1",
        "MedicationAdministration",
        {"dosage": {"dose": {"value": 1}}},
        {"dosage": {"text": "x"}},
    ),
    Case(
        "md-1",
        "MessageDefinition",
        {"focus": [{"code": "Patient", "min": 0, "max": "1"}]},
        {"focus": [{"code": "Patient", "min": 0, "max": "0"}]},
    ),
    Case(
        "mdd-1",
        "MedicationDispense",
        {"whenPrepared": "2020-01-01", "whenHandedOver": "2020-01-02"},
        {"whenPrepared": "2020-01-02", "whenHandedOver": "2020-01-01"},
    ),
    Case(
        "mea-1",
        "Measure",
        {"group": [{"stratifier": [{"code": CC}]}]},
        {
            "group": [
                {
                    "stratifier": [
                        {
                            "code": CC,
                            "component": [
                                {"criteria": {"language": "text/fhirpath", "expression": "true"}}
                            ],
                        }
                    ]
                }
            ]
        },
    ),
    Case(
        "mrp-1",
        "MeasureReport",
        {"group": [{"code": CC}]},
        {"type": "data-collection", "group": [{"code": CC}]},
    ),
    Case(
        "mrp-2",
        "MeasureReport",
        {"group": [{"stratifier": [{"stratum": [{"value": CC}]}]}]},
        {
            "group": [
                {
                    "stratifier": [
                        {"stratum": [{"value": CC, "component": [{"code": CC, "value": CC}]}]}
                    ]
                }
            ]
        },
    ),
    Case("msq-3", "MolecularSequence", {"coordinateSystem": 1}, {"coordinateSystem": 2}),
    Case(
        "msq-5",
        "MolecularSequence",
        {"referenceSeq": {"chromosome": CC, "genomeBuild": "GRCh38"}},
        {"referenceSeq": {"chromosome": CC, "referenceSeqId": CC}},
    ),
    Case(
        "msq-6",
        "MolecularSequence",
        {"referenceSeq": {"referenceSeqId": CC}},
        {"referenceSeq": {"referenceSeqId": CC, "referenceSeqString": "ACGT"}},
    ),
    Case(
        "nsd-1",
        "NamingSystem",
        {"uniqueId": [{"type": "oid", "value": "1.2.3"}]},
        {"uniqueId": [{"type": "uuid", "value": "3c7f4c8b-2b4b-4e0c-9b5e-0f4c4b2d7a10"}]},
    ),
    Case(
        "nsd-2",
        "NamingSystem",
        {
            "uniqueId": [
                {"type": "oid", "value": "1.2.3", "preferred": True},
                {"type": "uri", "value": "http://example.org/ns", "preferred": True},
            ]
        },
        {
            "uniqueId": [
                {"type": "oid", "value": "1.2.3", "preferred": True},
                {"type": "oid", "value": "1.2.4", "preferred": True},
            ]
        },
    ),
    Case(
        "obs-3",
        "Observation",
        {"referenceRange": [{"text": "normal"}]},
        {"referenceRange": [{"type": CC}]},
    ),
    Case(
        "obs-6", "Observation", {"valueString": "x"}, {"valueString": "x", "dataAbsentReason": CC}
    ),
    Case(
        "obs-7",
        "Observation",
        {
            "code": coded("http://loinc.org", "85354-9"),
            "valueString": "x",
            "component": [{"code": coded("http://loinc.org", "8480-6"), "valueString": "y"}],
        },
        {
            "code": coded("http://loinc.org", "85354-9"),
            "valueString": "x",
            "component": [{"code": coded("http://loinc.org", "85354-9"), "valueString": "y"}],
        },
    ),
    Case(
        "opd-1",
        "OperationDefinition",
        {"parameter": [{"name": "p", "use": "in", "min": 0, "max": "1", "type": "string"}]},
        {"parameter": [{"name": "p", "use": "in", "min": 0, "max": "1"}]},
    ),
    Case(
        "opd-2",
        "OperationDefinition",
        {
            "parameter": [
                {
                    "name": "p",
                    "use": "in",
                    "min": 0,
                    "max": "1",
                    "type": "string",
                    "searchType": "token",
                }
            ]
        },
        {
            "parameter": [
                {
                    "name": "p",
                    "use": "in",
                    "min": 0,
                    "max": "1",
                    "type": "integer",
                    "searchType": "token",
                }
            ]
        },
    ),
    # opd-3 as corrected: a resource-typed parameter may name a target profile.
    Case(
        "opd-3",
        "OperationDefinition",
        {
            "parameter": [
                {
                    "name": "p",
                    "use": "in",
                    "min": 0,
                    "max": "1",
                    "type": "Patient",
                    "targetProfile": ["http://example.org/StructureDefinition/p"],
                }
            ]
        },
        {
            "parameter": [
                {
                    "name": "p",
                    "use": "in",
                    "min": 0,
                    "max": "1",
                    "type": "string",
                    "targetProfile": ["http://example.org/StructureDefinition/p"],
                }
            ]
        },
    ),
    Case("org-1", "Organization", {"name": "x"}, {"active": True}),
    Case(
        "org-2",
        "Organization",
        {"name": "x", "address": [{"use": "work", "city": "Lille"}]},
        {"name": "x", "address": [{"use": "home", "city": "Lille"}]},
    ),
    Case(
        "org-3",
        "Organization",
        {"name": "x", "telecom": [{"system": "phone", "value": "1", "use": "work"}]},
        {"name": "x", "telecom": [{"system": "phone", "value": "1", "use": "home"}]},
    ),
    Case(
        "pat-1",
        "Patient",
        {"contact": [{"name": {"family": "x"}}]},
        {"contact": [{"gender": "male"}]},
    ),
    Case("ppc-1", "Consent", {}, {"policyRule": None}),
    # ppc-2..5 are published with the placeholder system 'something': only that triggers them.
    *(
        Case(
            f"ppc-{n}",
            "Consent",
            {"scope": coded("something", code), "patient": REF},
            {"scope": coded("something", code)},
        )
        for n, code in ((2, "patient-privacy"), (3, "research"), (4, "adr"), (5, "treatment"))
    ),
    Case("prr-1", "ServiceRequest", {"orderDetail": [CC], "code": CC}, {"orderDetail": [CC]}),
    Case(
        "qrs-1",
        "QuestionnaireResponse",
        {"item": [{"linkId": "1", "answer": [{"valueString": "a"}]}]},
        {"item": [{"linkId": "1", "answer": [{"valueString": "a"}], "item": [{"linkId": "2"}]}]},
    ),
    Case(
        "que-1",
        "Questionnaire",
        questionnaire(item("1", "group", item=[item("2")])),
        questionnaire(item("1", "group")),
    ),
    Case(
        "que-2",
        "Questionnaire",
        questionnaire(item("1"), item("2")),
        questionnaire(item("1"), item("1")),
    ),
    Case(
        "que-3",
        "Questionnaire",
        questionnaire(display()),
        questionnaire(display(code=[{"system": "urn:example", "code": "c"}])),
    ),
    Case(
        "que-4",
        "Questionnaire",
        questionnaire(item("1", "choice", answerOption=[{"valueString": "a"}])),
        questionnaire(
            item(
                "1",
                "choice",
                answerOption=[{"valueString": "a"}],
                answerValueSet="http://example.org/vs",
            )
        ),
    ),
    Case(
        "que-5",
        "Questionnaire",
        questionnaire(item("1", "choice", answerValueSet="http://example.org/vs")),
        questionnaire(item("1", "boolean", answerValueSet="http://example.org/vs")),
    ),
    Case("que-6", "Questionnaire", questionnaire(display()), questionnaire(display(required=True))),
    # que-7 as corrected: an 'exists' condition answers with a FHIR boolean.
    Case(
        "que-7",
        "Questionnaire",
        questionnaire(
            item("0", "boolean"),
            item("1", enableWhen=[{"question": "0", "operator": "exists", "answerBoolean": True}]),
        ),
        questionnaire(
            item("0", "boolean"),
            item("1", enableWhen=[{"question": "0", "operator": "exists", "answerString": "x"}]),
        ),
    ),
    Case(
        "que-8",
        "Questionnaire",
        questionnaire(item("1", initial=[{"valueString": "a"}])),
        questionnaire(display(initial=[{"valueString": "a"}])),
    ),
    Case("que-9", "Questionnaire", questionnaire(display()), questionnaire(display(readOnly=True))),
    Case(
        "que-10",
        "Questionnaire",
        questionnaire(item("1", "string", maxLength=3)),
        questionnaire(item("1", "date", maxLength=3)),
    ),
    Case(
        "que-11",
        "Questionnaire",
        questionnaire(
            item("1", "choice", answerOption=[{"valueString": "a", "initialSelected": True}])
        ),
        questionnaire(
            item("1", "choice", answerOption=[{"valueString": "a"}], initial=[{"valueString": "a"}])
        ),
    ),
    # que-12 as corrected: two conditions already need enableBehavior.
    Case(
        "que-12",
        "Questionnaire",
        questionnaire(
            item("0", "boolean"),
            item(
                "1",
                enableBehavior="all",
                enableWhen=[
                    {"question": "0", "operator": "=", "answerBoolean": True},
                    {"question": "0", "operator": "exists", "answerBoolean": True},
                ],
            ),
        ),
        questionnaire(
            item("0", "boolean"),
            item(
                "1",
                enableWhen=[
                    {"question": "0", "operator": "=", "answerBoolean": True},
                    {"question": "0", "operator": "exists", "answerBoolean": True},
                ],
            ),
        ),
    ),
    Case(
        "que-13",
        "Questionnaire",
        questionnaire(
            item("1", repeats=True, initial=[{"valueString": "a"}, {"valueString": "b"}])
        ),
        questionnaire(item("1", initial=[{"valueString": "a"}, {"valueString": "b"}])),
    ),
    Case(
        "ras-1",
        "RiskAssessment",
        {"prediction": [{"probabilityRange": {"low": ucum(1, "%"), "high": ucum(2, "%")}}]},
        {"prediction": [{"probabilityRange": {"low": ucum(1, "mg"), "high": ucum(2, "%")}}]},
    ),
    # ras-2 as corrected: a prediction without a probability is valid.
    Case(
        "ras-2",
        "RiskAssessment",
        {"prediction": [{"outcome": CC}]},
        {"prediction": [{"probabilityDecimal": 150}]},
    ),
    Case("rqg-1", "RequestGroup", {"action": [{"resource": REF}]}, {"action": [{"title": "t"}]}),
    Case(
        "sdf-1",
        "StructureDefinition",
        snapshot(snap("Thing"), snap("Thing.a")),
        snapshot(
            snap("Thing"), snap("Thing.a"), {**snap("Thing.a"), "id": "Thing.a:s", "sliceName": "s"}
        ),
    ),
    Case(
        "sdf-2",
        "StructureDefinition",
        {"mapping": [{"identity": "m", "uri": "http://example.org/m"}]},
        {"mapping": [{"identity": "m"}]},
    ),
    Case(
        "sdf-3",
        "StructureDefinition",
        snapshot(snap("Thing")),
        snapshot({**snap("Thing"), "definition": None}),
    ),
    Case(
        "sdf-4",
        "StructureDefinition",
        {"abstract": False, "baseDefinition": "http://example.org/StructureDefinition/base"},
        {"abstract": False},
    ),
    Case(
        "sdf-5",
        "StructureDefinition",
        {
            "kind": "complex-type",
            "type": "Extension",
            "derivation": "constraint",
            "abstract": False,
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "context": [{"type": "element", "expression": "Patient"}],
            "differential": {"element": [element("Extension")]},
        },
        {
            "kind": "complex-type",
            "type": "Extension",
            "derivation": "constraint",
            "abstract": False,
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "differential": {"element": [element("Extension")]},
        },
    ),
    Case("sdf-6", "StructureDefinition", {}, {"differential": None}),
    Case(
        "sdf-8",
        "StructureDefinition",
        snapshot(snap("Thing"), snap("Thing.a")),
        snapshot(snap("Thing"), snap("Other.a")),
    ),
    Case(
        "sdf-8a",
        "StructureDefinition",
        differential(element("Thing.a")),
        differential(element("Other.a")),
    ),
    Case(
        "sdf-8b",
        "StructureDefinition",
        snapshot(snap("Thing")),
        snapshot({**snap("Thing"), "base": None}),
    ),
    Case(
        "sdf-9",
        "StructureDefinition",
        {"differential": {"element": [element("Thing", short="s")]}},
        {"differential": {"element": [element("Thing", label="l")]}},
    ),
    Case(
        "sdf-10",
        "StructureDefinition",
        snapshot(
            snap("Thing"), snap("Thing.a", binding={"strength": "example", "description": "d"})
        ),
        snapshot(snap("Thing"), snap("Thing.a", binding={"strength": "example"})),
    ),
    Case(
        "sdf-11",
        "StructureDefinition",
        {"kind": "resource", **snapshot(snap("Thing"))},
        {"kind": "resource", **snapshot(snap("Other"))},
    ),
    Case(
        "sdf-14",
        "StructureDefinition",
        differential(element("Thing.a")),
        differential({"path": "Thing.a"}),
    ),
    Case(
        "sdf-15",
        "StructureDefinition",
        {"kind": "resource", **snapshot(snap("Thing"))},
        {"kind": "resource", **snapshot(snap("Thing", type=[{"code": "Element"}]))},
    ),
    Case(
        "sdf-15a",
        "StructureDefinition",
        {"kind": "complex-type"},
        {
            "kind": "complex-type",
            "differential": {"element": [element("Thing", type=[{"code": "Element"}])]},
        },
    ),
    Case(
        "sdf-16",
        "StructureDefinition",
        snapshot(snap("Thing"), snap("Thing.a")),
        snapshot(snap("Thing"), snap("Thing.a"), {**snap("Thing.b"), "id": "Thing.a"}),
    ),
    Case(
        "sdf-17",
        "StructureDefinition",
        differential(element("Thing.a"), element("Thing.b")),
        differential(element("Thing.a"), {**element("Thing.b"), "id": "Thing.a"}),
    ),
    Case(
        "sdf-18",
        "StructureDefinition",
        {
            "kind": "complex-type",
            "type": "Extension",
            "derivation": "constraint",
            "abstract": False,
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "context": [{"type": "element", "expression": "Patient"}],
            "contextInvariant": ["true"],
            "differential": {"element": [element("Extension")]},
        },
        {"contextInvariant": ["true"]},
    ),
    Case(
        "sdf-19",
        "StructureDefinition",
        {"url": "http://hl7.org/fhir/StructureDefinition/thing", **eld(type=[{"code": "string"}])},
        {"url": "http://hl7.org/fhir/StructureDefinition/thing", **eld(type=[{"code": "my-type"}])},
    ),
    Case(
        "sdf-20",
        "StructureDefinition",
        {
            "differential": {
                "element": [
                    element("Thing"),
                    element("Thing.a", slicing={"rules": "open", "description": "d"}),
                ]
            }
        },
        {
            "differential": {
                "element": [element("Thing", slicing={"rules": "open", "description": "d"})]
            }
        },
    ),
    Case(
        "sdf-21",
        "StructureDefinition",
        eld(type=[{"code": "string"}], defaultValueString="a"),
        {"derivation": "constraint", **eld(type=[{"code": "string"}], defaultValueString="a")},
    ),
    Case(
        "sdf-22",
        "StructureDefinition",
        {"url": "http://hl7.org/fhir/StructureDefinition/thing", **eld(type=[{"code": "string"}])},
        {
            "url": "http://hl7.org/fhir/StructureDefinition/thing",
            **eld(type=[{"code": "string"}], defaultValueString="a"),
        },
    ),
    Case(
        "sdf-23",
        "StructureDefinition",
        differential(element("Thing.a", sliceName="s")),
        {"differential": {"element": [element("Thing", sliceName="s")]}},
    ),
    Case(
        "sev-1",
        "AuditEvent",
        {"entity": [{"name": "n"}]},
        {"entity": [{"name": "n", "query": "aGk="}]},
    ),
    *(
        Case(
            key,
            "StructureMap",
            {
                "group": [
                    {
                        "name": "g",
                        "typeMode": "none",
                        "input": [{"name": "src", "mode": "source"}],
                        "rule": [
                            {
                                "name": "r",
                                "source": [{"context": "src"}],
                                "target": [
                                    {"context": "tgt", "contextType": "variable", "element": "x"}
                                ],
                            }
                        ],
                    }
                ]
            },
            {
                "group": [
                    {
                        "name": "g",
                        "typeMode": "none",
                        "input": [{"name": "src", "mode": "source"}],
                        "rule": [{"name": "r", "source": [{"context": "src"}], "target": [target]}],
                    }
                ]
            },
        )
        for key, target in (("smp-1", {"element": "x"}), ("smp-2", {"context": "tgt"}))
    ),
    Case(
        "spd-1",
        "SearchParameter",
        {"xpath": "f:Patient/f:name", "xpathUsage": "normal"},
        {"xpath": "f:Patient/f:name"},
    ),
    Case(
        "spd-2",
        "SearchParameter",
        {"type": "reference", "expression": "Patient.generalPractitioner", "chain": ["name"]},
        {"chain": ["name"]},
    ),
    Case(
        "sst-1",
        "SubscriptionStatus",
        {"type": "event-notification", "notificationEvent": [{"eventNumber": "1"}]},
        {"type": "event-notification"},
    ),
    Case(
        "tcp-1",
        "TerminologyCapabilities",
        {
            "codeSystem": [
                {"uri": "http://example.org/cs", "version": [{"code": "1"}, {"code": "2"}]}
            ]
        },
        {
            "codeSystem": [
                {"uri": "http://example.org/cs", "version": [{"code": "1"}, {"isDefault": True}]}
            ]
        },
    ),
    Case(
        "tcp-2",
        "TerminologyCapabilities",
        {"kind": "requirements", "software": None, "description": "d"},
        {"kind": "requirements", "software": None},
    ),
    Case(
        "tcp-3",
        "TerminologyCapabilities",
        {"kind": "instance", "implementation": {"description": "x"}},
        {"kind": "instance"},
    ),
    Case("tcp-4", "TerminologyCapabilities", {}, {"software": None, "description": "d"}),
    Case(
        "tcp-5",
        "TerminologyCapabilities",
        {"kind": "requirements", "software": None, "description": "d"},
        {"kind": "requirements", "description": "d"},
    ),
    Case(
        "tst-1",
        "TestScript",
        setup({"operation": OPERATION}),
        setup({"operation": OPERATION, "assert": ASSERT}),
    ),
    Case(
        "tst-2",
        "TestScript",
        test_({"assert": ASSERT}),
        test_({"operation": OPERATION, "assert": ASSERT}),
    ),
    Case(
        "tst-3",
        "TestScript",
        {"variable": [{"name": "v", "expression": "x"}]},
        {"variable": [{"name": "v", "expression": "x", "headerField": "h", "path": "p"}]},
    ),
    Case(
        "tst-4",
        "TestScript",
        {
            "metadata": {
                "capability": [
                    {"required": True, "validated": False, "capabilities": "http://example.org/cs"}
                ]
            }
        },
        {"metadata": {"capability": [{"capabilities": "http://example.org/cs"}]}},
        refused_by_structure=True,
    ),
    Case(
        "tst-5",
        "TestScript",
        setup({"assert": ASSERT}),
        setup({"assert": {**ASSERT, "expression": "y"}}),
    ),
    Case(
        "tst-6",
        "TestScript",
        test_({"assert": ASSERT}),
        test_({"assert": {**ASSERT, "expression": "y"}}),
    ),
    Case(
        "tst-7",
        "TestScript",
        setup({"operation": OPERATION}),
        setup({"operation": {"encodeRequestUrl": True}}),
    ),
    Case(
        "tst-8",
        "TestScript",
        test_({"operation": OPERATION}),
        test_({"operation": {"encodeRequestUrl": True}}),
    ),
    Case(
        "tst-9",
        "TestScript",
        {"teardown": {"action": [{"operation": OPERATION}]}},
        {"teardown": {"action": [{"operation": {"encodeRequestUrl": True}}]}},
    ),
    Case(
        "tst-10",
        "TestScript",
        setup({"assert": {**ASSERT, "compareToSourceId": "s", "compareToSourcePath": "p"}}),
        setup({"assert": {**ASSERT, "compareToSourceId": "s"}}),
    ),
    Case(
        "tst-11",
        "TestScript",
        test_({"assert": {**ASSERT, "compareToSourceId": "s", "compareToSourcePath": "p"}}),
        test_({"assert": {**ASSERT, "compareToSourceId": "s"}}),
    ),
    Case(
        "tst-12",
        "TestScript",
        setup({"assert": {"warningOnly": False, "direction": "response", "responseCode": "200"}}),
        setup({"assert": {"warningOnly": False, "direction": "request", "responseCode": "200"}}),
    ),
    Case(
        "tst-13",
        "TestScript",
        test_({"assert": {"warningOnly": False, "direction": "response", "responseCode": "200"}}),
        test_({"assert": {"warningOnly": False, "direction": "request", "responseCode": "200"}}),
    ),
    Case("vsd-1", "ValueSet", vs_include(system="http://example.org/cs"), vs_include(version="1")),
    Case(
        "vsd-2",
        "ValueSet",
        vs_include(system="http://example.org/cs", concept=[{"code": "a"}]),
        vs_include(valueSet=["http://example.org/vs"], concept=[{"code": "a"}]),
    ),
    Case(
        "vsd-3",
        "ValueSet",
        vs_include(system="http://example.org/cs", concept=[{"code": "a"}]),
        vs_include(
            system="http://example.org/cs",
            concept=[{"code": "a"}],
            filter=[{"property": "p", "op": "=", "value": "v"}],
        ),
    ),
    Case(
        "vsd-6",
        "ValueSet",
        vs_contains(system="urn:example", code="a"),
        vs_contains(system="urn:example"),
    ),
    Case("vsd-9", "ValueSet", vs_contains(abstract=True, display="d"), vs_contains(display="d")),
    Case("vsd-10", "ValueSet", vs_contains(system="urn:example", code="a"), vs_contains(code="a")),
]


def without_nulls(value: Any) -> Any:
    """Cases write ``None`` to remove a field of the base resource."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
