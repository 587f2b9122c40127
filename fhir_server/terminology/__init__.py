"""Local terminology: the IG's and core code systems and value sets.

``TerminologyService`` answers ``ValueSet/$expand``, ``ValueSet/$validate-code``
and ``CodeSystem/$lookup`` and decides binding membership for the profile
validator (``fhir_server.profiles``).
"""

from fhir_server.terminology.codesystems import Concept, LocalCodeSystem
from fhir_server.terminology.service import TerminologyService
from fhir_server.terminology.valuesets import Expansion, ExpansionEntry

__all__ = ["Concept", "Expansion", "ExpansionEntry", "LocalCodeSystem", "TerminologyService"]
