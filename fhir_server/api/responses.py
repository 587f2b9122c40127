"""The one place that turns an interaction ``Outcome`` into HTTP.

ETag, Last-Modified and Location follow https://hl7.org/fhir/R4/http.html;
``Prefer: return=minimal | representation | OperationOutcome`` decides the
body of writes.
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

from starlette.responses import Response

from fhir_server.api.formats import encode
from fhir_server.errors import Issue, operation_outcome
from fhir_server.interactions.outcome import Outcome


def prefer_return(prefer: str | None) -> str | None:
    for part in (prefer or "").split(";"):
        for item in part.split(","):
            key, _, value = item.strip().partition("=")
            if key == "return":
                return value.strip().strip('"')
    return None


def prefer_handling(prefer: str | None) -> str | None:
    for part in (prefer or "").replace(",", ";").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "handling":
            return value.strip().strip('"')
    return None


def render(
    outcome: Outcome,
    *,
    base_url: str,
    media_type: str,
    pretty: bool,
    prefer: str | None,
    is_write: bool,
    committed: bool = False,
) -> Response:
    headers: dict[str, str] = dict(outcome.headers)
    stored = outcome.stored
    if stored is not None:
        headers["ETag"] = stored.etag
        headers["Last-Modified"] = format_datetime(stored.last_updated, usegmt=True)
        if outcome.location:
            headers["Location"] = f"{base_url}/{stored.type}/{stored.id}/_history/{stored.version}"
    if outcome.content is not None:  # an operation's image: its own media type, sent as is
        return Response(
            content=outcome.content,
            status_code=outcome.status,
            headers=headers,
            media_type=outcome.content_type,
        )
    body: Any = outcome.body
    if is_write and body is not None:
        if prefer == "minimal":
            body = None
        elif prefer == "OperationOutcome":
            issues = outcome.issues or [
                Issue("information", "informational", f"{outcome.status} OK", msg_id="MRTC-OK")
            ]
            body = operation_outcome(issues)
    if outcome.status in (204, 304) or body is None:
        return Response(status_code=outcome.status, headers=headers)
    content, media_type = encode(body, media_type, pretty, must_send=committed)
    return Response(
        content=content,
        status_code=outcome.status,
        headers=headers,
        media_type=f"{media_type}; charset=utf-8",
    )
