"""FHIR XML at the HTTP edge: ``application/fhir+xml`` in and out.

The server's pipeline speaks FHIR JSON; this package converts request bodies
from XML before an interaction runs (``reader.xml_to_json``) and responses to
XML after it (``writer.json_to_xml``), both driven by the R4 definitions in
``schema``. See docs/formats.md and docs/decisions/0011-fhir-xml-converter.md.
"""

from __future__ import annotations

from fhir_server.api.xml.reader import xml_to_json
from fhir_server.api.xml.writer import json_to_xml

__all__ = ["json_to_xml", "xml_to_json"]
