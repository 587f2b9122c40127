"""Validation only: base structure and StructureDefinition-based profiles.

Public entry points:

* ``check_structure`` (``structure``) - is this JSON a valid resource of its type;
* ``ProfileValidator`` (``validator``) - ``validate(resource, profiles) -> list[Issue]``;
* ``ConformanceSource`` (``conformance``) - core definitions + the loaded IG;
* ``EnforcementPolicy`` (``enforcement``) - which profiles a write must satisfy;
* ``ProfileServices`` (``service``) - what the write path and ``$validate`` use.

The operations built on them (``$validate``, terminology) live in
``fhir_server.operations``.
"""

from fhir_server.profiles.conformance import ConformanceSource
from fhir_server.profiles.validator import ProfileValidator

__all__ = ["ConformanceSource", "ProfileValidator"]
