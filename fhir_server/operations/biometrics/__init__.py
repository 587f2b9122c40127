"""The biometric form and BMI for age (issue #12 items 3 and 4).

Booklet: *Le formulaire MRTC : Suivi Biométrique* — weight in kilograms typed
« 65,5 ou 65.5 », height in centimetres, BMI computed, « automatiquement
reportées et synchronisées » on the later biometric steps, and « le graphique
d'évolution des données IMC ».

* ``form`` — QuestionnaireResponse hooks: text numbers normalised, impossible
  values refused, the BMI computed by the server on every write path;
* ``observations`` — Observation hooks: weight, height and BMI Observations
  (extracted or pushed by an EHR) join one series, and every BMI gets its IOTF
  grade for the child's age and sex;
* ``prefill`` — a Task hook: starting a biometric step creates its response
  pre-filled with the child's latest weight and height;
* ``iotf``, ``plausibility`` — the IG's data (cut-offs, grades, plausible ranges);
* ``chart`` — the BMI-for-age chart drawn with matplotlib for ``$bmi-chart``.

They live in the operations layer because they reuse its SDC engine
(``operations/sdc``) and, for the pre-filled form, the write pipeline; the
composition root registers them as write hooks (decision 0033).
"""

from fhir_server.operations.biometrics.form import FormHooks
from fhir_server.operations.biometrics.iotf import IotfReference
from fhir_server.operations.biometrics.observations import ObservationHooks
from fhir_server.operations.biometrics.plausibility import PlausibleRanges
from fhir_server.operations.biometrics.prefill import StepHooks

__all__ = ["FormHooks", "IotfReference", "ObservationHooks", "PlausibleRanges", "StepHooks"]
