"""Content negotiation: request bodies in, response format out.

FHIR JSON (``application/fhir+json`` or ``application/json``) and FHIR XML
(``application/fhir+xml``, ``application/xml``, ``text/xml``: converted to FHIR
JSON here, at the edge, by ``api.xml``); the response format is chosen by
``api.formats``. The body size limit is enforced while reading, so an
oversize body is never held in memory.

A body's ``Content-Type`` must be one the interaction takes (``BODY_MEDIA``):
a resource for create, update, bundles and operations, a JSON Patch or JSON
Merge Patch for PATCH only, a form for ``_search`` only; anything else, a
missing type, or a charset other than UTF-8 (the only one FHIR uses here) is
a 415. Each media type names its reader in ``READERS``. A JSON body is read
strictly (``profiles.json_text``: no duplicate keys, bounded depth).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from fhir_server.api.formats import XML_TYPES, response_type
from fhir_server.api.xml import xml_to_json
from fhir_server.errors import PayloadTooLarge, UnsupportedMediaType
from fhir_server.profiles import json_text

FHIR_JSON = "application/fhir+json"
JSON_TYPES = (
    "application/fhir+json",
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
)
FORM = "application/x-www-form-urlencoded"
RESOURCE_MEDIA: tuple[str, ...] = ("application/fhir+json", "application/json", *sorted(XML_TYPES))
PATCH_MEDIA: tuple[str, ...] = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/fhir+json",  # a JSON Patch array or a merge-patch object,
    "application/json",  # as several clients send
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


def _read_xml(raw: bytes, max_depth: int) -> Any:
    return json_text.loads(xml_to_json(raw), max_depth=max_depth)  # FHIR XML -> FHIR JSON


# media type -> reader of a body of that type
READERS: dict[str, Callable[[bytes, int], Any]] = {
    **dict.fromkeys(JSON_TYPES, _read_json),
    **dict.fromkeys(XML_TYPES, _read_xml),
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


def response_media_type(request: Request, extra: tuple[str, ...] = ()) -> str:
    """Pick the response Content-Type from ``_format`` or ``Accept`` (see ``api.formats``)."""
    return response_type(request, extra)


def dumps(body: Any, pretty: bool) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)
