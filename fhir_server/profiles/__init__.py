"""StructureDefinition-based validation (profiles) and its operations.

Public entry points:

* ``ProfileValidator`` (``validator``) - ``validate(resource, profiles) -> list[Issue]``;
* ``ConformanceSource`` (``conformance``) - core definitions + the IG;
* ``profiles_for`` / ``ProfileSettings`` (``enforcement``, ``settings``) - which
  profiles a write must satisfy;
* ``operations_impl`` - ``$validate``, ``$expand``, ``$validate-code``, ``$lookup``
  as plain functions for the operations registry.
"""

from fhir_server.profiles.conformance import ConformanceSource
from fhir_server.profiles.validator import ProfileValidator

__all__ = ["ConformanceSource", "ProfileValidator"]
