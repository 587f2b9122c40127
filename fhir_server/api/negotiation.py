"""Content negotiation: request bodies in, response format out.

FHIR JSON only (``application/fhir+json`` or ``application/json``); XML is
refused with 406/415 rather than silently answered in JSON. The body size
limit is enforced while reading, so an oversize body is never held in memory.

A body's ``Content-Type`` must be one the interaction takes (``BODY_MEDIA``):
a resource for create, update, bundles and operations, a JSON Patch or JSON
Merge Patch for PATCH only, a form for ``_search`` only; anything else, a
missing type, or a charset other than UTF-8 (the only one FHIR JSON uses) is
a 415. Each media type names its reader in ``READERS``: a new format (XML)
is one reader and a media type added to ``RESOURCE_MEDIA``.
"""

from __future__ import annotations

from collections.abc import Callable
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
RESOURCE_MEDIA: tuple[str, ...] = ("application/fhir+json", "application/json")
PATCH_MEDIA: tuple[str, ...] = (
    "application/json-patch+json",
    "application/merge-patch+json",
    *RESOURCE_MEDIA,  # a JSON Patch array or a merge-patch object, as several clients send
)
# interaction (interactions.routing) -> the media types its request body may have
BODY_MEDIA: dict[str, tuple[str, ...]] = {
    "create": RESOURCE_MEDIA,
    "update": RESOURCE_MEDIA,
    "conditional-update": RESOURCE_MEDIA,
    "bundle": RESOURCE_MEDIA,
    "operation": RESOURCE_MEDIA,
    "patch": PATCH_MEDIA,
    "conditional-patch": PATCH_MEDIA,
    "search-type": (FORM,),
    "search-system": (FORM,),
}
UTF8 = ("utf-8", "utf8")
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


def _read_json(raw: bytes, max_depth: int) -> Any:
    return json_text.loads(raw, max_depth=max_depth)


def _read_form(raw: bytes, max_depth: int) -> Any:
    return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)


# media type -> reader of a body of that type
READERS: dict[str, Callable[[bytes, int], Any]] = {
    **dict.fromkeys(JSON_TYPES, _read_json),
    FORM: _read_form,
}


def check_media(content_type: str, interaction: str | None) -> str:
    """The body's media type, if the interaction takes it (415 otherwise)."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    accepted = BODY_MEDIA.get(interaction or "", RESOURCE_MEDIA)
    if not media:
        raise UnsupportedMediaType(
            f"A request body needs a Content-Type: {' or '.join(accepted)}",
            msg_id="MRTC-HTTP-415",
        )
    if media not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type '{media}' is not accepted by this interaction; "
            f"send {' or '.join(accepted)}",
            msg_id="MRTC-HTTP-415",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in UTF8:
            raise UnsupportedMediaType(
                f"charset '{value.strip()}' is not supported; FHIR bodies are UTF-8",
                msg_id="MRTC-HTTP-415",
            )
    return media


def parse_body(
    raw: bytes,
    content_type: str,
    method: str,
    *,
    interaction: str | None,
    max_depth: int,
) -> Any:
    """JSON for resources and patches, a list of pairs for a form ``_search``."""
    if not raw.strip():
        return None
    media = check_media(content_type, interaction)
    return READERS[media](raw, max_depth)


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
