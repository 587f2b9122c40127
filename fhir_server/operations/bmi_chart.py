"""$bmi-chart — GET Patient/[id]/$bmi-chart (this server's operation).

ig/OperationDefinition-Patient-bmi-chart.json; the booklet's « graphique
d'évolution des données IMC »: the child's BMI Observations (LOINC 39156-5,
the biometric form's and an EHR's alike) by age, over the IOTF 25 and 30
curves of the child's sex (``Library/mrtc-iotf-cutoffs``), French labels,
drawn with matplotlib (``operations/biometrics/chart.py``) as PNG or SVG by
``Accept`` (``image/png`` when nothing is asked; ``_format=png|svg`` too).

The chart is part of the record: the patient is read as the caller (404 for
one who cannot open it), the Observations are searched as the caller (so the
chart never shows a point the caller could not read), and the dispatcher
audits the call like any read of the record. The image is drawn in a worker
thread so a chart never stalls the event loop.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from fhir_server.errors import NotAcceptable, ProfileViolation
from fhir_server.ig import ImplementationGuide
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.read import load_current
from fhir_server.interactions.routing import FhirRequest
from fhir_server.interactions.search import find_matches
from fhir_server.operations.biometrics.chart import PNG, SVG, ChartData, render
from fhir_server.operations.biometrics.codes import (
    BMI,
    LOINC,
    MSG_CHART_FORMAT,
    MSG_CHART_NO_BIRTH_DATE,
    MSG_CHART_NO_SEX,
)
from fhir_server.operations.biometrics.iotf import FRENCH_SEX, IotfReference, age_in_years, sex_of
from fhir_server.operations.biometrics.observations import quantity_value
from fhir_server.operations.biometrics.patients import effective_of
from fhir_server.operations.parameters import body_resource, collect_parameters, query_params
from fhir_server.operations.registry import Operation

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Patient-bmi-chart"
OP = "$bmi-chart"
CURVES = ("iotf25", "iotf30")
NOT_A_MEASURE = ("entered-in-error", "cancelled")
_REFERENCES: dict[int, IotfReference] = {}


def _reference(ig: ImplementationGuide) -> IotfReference:
    """The IG's IOTF table, read once per loaded guide."""
    key = id(ig)
    if key not in _REFERENCES:
        _REFERENCES[key] = IotfReference.from_ig(ig)
    return _REFERENCES[key]


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    assert req.type == "Patient" and req.id is not None
    collect_parameters(query_params(req), body_resource(req), (), OP)
    media_type = req.response_type or PNG
    if media_type not in (PNG, SVG):
        raise NotAcceptable(
            f"{OP} draws an image: ask for {PNG} or {SVG} (Accept or _format=png|svg)",
            msg_id=MSG_CHART_FORMAT,
        )
    patient = (await load_current(ctx, "Patient", req.id)).resource or {}
    sex = sex_of(patient)
    if sex is None:
        raise ProfileViolation(
            f"Patient/{req.id} has no sex (gender male or female): the IOTF curves are by sex",
            expression=("Patient.gender",),
            msg_id=MSG_CHART_NO_SEX,
        )
    birth_date = patient.get("birthDate")
    if not isinstance(birth_date, str):
        raise ProfileViolation(
            f"Patient/{req.id} has no birth date: the chart plots BMI by age",
            expression=("Patient.birthDate",),
            msg_id=MSG_CHART_NO_BIRTH_DATE,
        )
    iotf = _reference(ctx.services.ig)
    query = f"subject={quote(f'Patient/{req.id}', safe='')}&code={quote(f'{LOINC}|{BMI}', safe='')}"
    points: list[tuple[float, float]] = []
    for stored in await find_matches(ctx, "Observation", query):
        obs = stored.resource or {}
        value, age = quantity_value(obs), age_in_years(birth_date, effective_of(obs))
        if obs.get("status") not in NOT_A_MEASURE and value is not None and age is not None:
            points.append((age, value))
    data = ChartData(FRENCH_SEX[sex], sorted(points), {c: iotf.curve(sex, c) for c in CURVES})
    image = await asyncio.to_thread(render, data, media_type)
    return Outcome(200, None, content=image, content_type=media_type)


OPERATION = Operation(
    name="bmi-chart",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    instance=True,
    produces=(PNG, SVG),
)
