"""The SDC observation-based extraction engine, pure and HTTP-free.

``extraction`` turns a QuestionnaireResponse into the transaction Bundle of
Observations to submit; ``answers`` checks and normalises the answers against
their items; ``calculate`` recomputes calculated items with FHIRPath;
``questionnaire`` holds what the SDC Questionnaire extensions say. The
operation adapter is ``fhir_server/operations/extract.py``.
"""

from fhir_server.operations.sdc.answers import normalise
from fhir_server.operations.sdc.calculate import calculate
from fhir_server.operations.sdc.extraction import extract
from fhir_server.operations.sdc.questionnaire import (
    MSG_NOT_A_RESPONSE,
    MSG_OTHER_QUESTIONNAIRE,
    Extraction,
    answers_questionnaire,
)

__all__ = [
    "MSG_NOT_A_RESPONSE",
    "MSG_OTHER_QUESTIONNAIRE",
    "Extraction",
    "answers_questionnaire",
    "calculate",
    "extract",
    "normalise",
]
