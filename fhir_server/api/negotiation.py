"""Content negotiation: request bodies in, response format out.

FHIR JSON only (``application/fhir+json`` or ``application/json``); XML is
refused with 406/415 rather than silently answered in JSON. The body size
limit is enforced while reading, so an oversize body is never held in memory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from fhir_server.errors import NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from fhir_server.resources import json_text

FHIR_JSON = "application/fhir+json"
JSON_TYPES = (
    "application/fhir+json",
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
)
FORM = "application/x-www-form-urlencoded"
_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    "application/json": "application/json",
    "application/fhir+json": FHIR_JSON,
}


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


def parse_body(raw: bytes, content_type: str, method: str, *, max_depth: int) -> Any:
    """JSON for resources and patches, a list of pairs for a form ``_search``."""
    if not raw.strip():
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM:
        return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if media and media not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{media}' is not supported; send application/fhir+json",
            msg_id="MRTC-HTTP-415",
        )
    return json_text.loads(raw, max_depth=max_depth)


def response_media_type(request: Request) -> str:
    """Pick the response Content-Type from ``_format`` or ``Accept`` (406 for XML)."""
    fmt = request.query_params.get("_format")
    if fmt:
        chosen = _FORMAT_ALIASES.get(fmt.strip().lower())
        if chosen is None:
            raise NotAcceptable(
                f"_format={fmt} is not supported; this server speaks FHIR JSON",
                msg_id="MRTC-HTTP-406",
            )
        return chosen
    accept = request.headers.get("accept", "")
    if not accept:
        return FHIR_JSON
    offered = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    for media in offered:
        if media in ("application/fhir+json", "*/*", "application/*", ""):
            return FHIR_JSON
        if media == "application/json":
            return "application/json"
        if media == "text/html" or media.startswith("text/"):
            continue
    if any("xml" in m for m in offered) and not any("json" in m for m in offered):
        raise NotAcceptable(
            "This server produces FHIR JSON only (application/fhir+json)",
            msg_id="MRTC-HTTP-406",
        )
    return FHIR_JSON


def dumps(body: Any, pretty: bool) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)
