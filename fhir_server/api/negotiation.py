"""Content negotiation: request bodies in, response format out.

FHIR JSON (``application/fhir+json`` or ``application/json``) and FHIR XML
(``application/fhir+xml``, ``application/xml``, ``text/xml``: converted to FHIR
JSON here, at the edge, by ``api.xml``); the response format is chosen by
``api.formats``. The body size limit is enforced while reading, so an
oversize body is never held in memory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from fhir_server.api.formats import XML_TYPES, response_type
from fhir_server.api.xml import xml_to_json
from fhir_server.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
JSON_TYPES = (
    "application/fhir+json",
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
)
FORM = "application/x-www-form-urlencoded"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"The request body ({declared} bytes) exceeds the limit of {limit} bytes",
            msg_id="MRTC-HTTP-413",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"The request body exceeds the limit of {limit} bytes", msg_id="MRTC-HTTP-413"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes, content_type: str, method: str) -> Any:
    """JSON for resources and patches (XML converted first), a list of pairs for a form
    ``_search``."""
    if not raw.strip():
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM:
        return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if media in XML_TYPES:
        raw = xml_to_json(raw)  # FHIR XML -> FHIR JSON text, then the JSON path below
    elif media and media not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{media}' is not supported; send application/fhir+json "
            "or application/fhir+xml",
            msg_id="MRTC-HTTP-415",
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc}", msg_id="MRTC-HTTP-400"
        ) from None


def response_media_type(request: Request) -> str:
    """Pick the response Content-Type from ``_format`` or ``Accept`` (see ``api.formats``)."""
    return response_type(request)


def dumps(body: Any, pretty: bool) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)
