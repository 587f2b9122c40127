"""The codes, canonical URLs and message ids of the biometric rules (one place)."""

from __future__ import annotations

LOINC = "http://loinc.org"
WEIGHT, HEIGHT, BMI = "29463-7", "8302-2", "39156-5"
MEASURES = (WEIGHT, HEIGHT, BMI)
BASE = "https://mrtc.example.org/fhir"
PROFILES = {
    WEIGHT: f"{BASE}/StructureDefinition/mrtc-body-weight",
    HEIGHT: f"{BASE}/StructureDefinition/mrtc-body-height",
    BMI: f"{BASE}/StructureDefinition/mrtc-bmi",
}
FRENCH_NAMES = {WEIGHT: "Poids", HEIGHT: "Taille", BMI: "IMC"}
QUESTIONNAIRE = f"{BASE}/Questionnaire/mrtc-suivi-biometrique"
ACTIVITY = f"{BASE}/ActivityDefinition/mrtc-step-biometric-form"
STEP_SYSTEM = f"{BASE}/CodeSystem/mrtc-pathway-step"
STEP_CODE = "biometric-form"
GRADE_SYSTEM = f"{BASE}/CodeSystem/mrtc-bmi-for-age"
FLAG_SYSTEM = f"{BASE}/CodeSystem/mrtc-biometric-flag"
IMPLAUSIBLE = "implausible-for-age"
CUTOFFS_LIBRARY = f"{BASE}/Library/mrtc-iotf-cutoffs"
# The pre-filled response names its step: QuestionnaireResponse.identifier (R4 gives
# QuestionnaireResponse no reference to a Task; Task.output points the other way).
STEP_FORM_SYSTEM = f"{BASE}/sid/step-questionnaire-response"
TASK_IO_SYSTEM = f"{BASE}/CodeSystem/mrtc-task-io-type"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATION_DISPLAY = {"L": "Low", "N": "Normal", "H": "High"}
VITAL_SIGNS = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs",
    "display": "Vital Signs",
}

MSG_IMPLAUSIBLE = "MRTC-BIO-001"  # warning: accepted, flagged
MSG_NO_AGE = "MRTC-BIO-002"  # warning: no birth date or sex, no IOTF grade
MSG_IMPOSSIBLE_BMI = "MRTC-BIO-010"  # 422: the computed BMI cannot be
MSG_IMPOSSIBLE = "MRTC-BIO-011"  # 422: an Observation's value cannot be
MSG_CHART_NO_SEX = "MRTC-BIO-020"  # 422: no IOTF curves without the child's sex
MSG_CHART_NO_BIRTH_DATE = "MRTC-BIO-021"  # 422: no age axis without a birth date
MSG_CHART_FORMAT = "MRTC-BIO-022"  # 406: the chart is PNG or SVG
MSG_BAD_IG = "MRTC-BIO-030"  # start refused: the IG's biometric data are not whole
