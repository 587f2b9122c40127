"""MRTC coordination FHIR R4 server.

The package is laid out in FHIR words so a reader can guess where a request
goes: ``api`` (HTTP) -> ``interactions``/``operations`` (FHIR semantics) ->
``resources``/``search``/``profiles``/``security`` -> ``storage`` (MongoDB).
"""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
