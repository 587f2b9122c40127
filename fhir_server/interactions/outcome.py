"""What an interaction returns: a status, a resource body, and the stored version.

The API layer turns this into headers (ETag, Location, Last-Modified) in one
place (``fhir_server.api.responses``); bundle processing turns it into an
``entry.response``. Interactions never build HTTP headers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import Issue
from fhir_server.storage.repository import StoredResource


@dataclass
class Outcome:
    status: int
    body: dict[str, Any] | None = None  # resource, Bundle or OperationOutcome to send
    stored: StoredResource | None = None  # drives ETag / Last-Modified / Location
    location: bool = False  # send a Location header (create, update-as-create)
    issues: list[Issue] = field(default_factory=list)  # informational, for Prefer: OperationOutcome
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # a non-FHIR body (an operation's image), sent as is
    content_type: str = ""  # the media type of ``content``
