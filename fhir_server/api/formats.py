"""Which format a response is written in, and writing it: FHIR JSON or FHIR XML.

https://hl7.org/fhir/R4/http.html#mime-type: ``_format`` wins over ``Accept``
(it exists for clients that cannot set headers); its values ``json``/``xml``,
the FHIR types and the generic ``application/json``, ``application/xml`` and
``text/xml`` are understood, and a ``+`` that a form encoder turned into a
space is forgiven. ``Accept`` is read with its q-values. With no preference
(no ``Accept``, or ``*/*``), the answer comes in the format of the request
body, so an XML client gets XML back without asking twice; otherwise JSON.
A format this server does not write is a 406.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from fhir_server.api.xml import json_to_xml
from fhir_server.errors import FhirError, NotAcceptable

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
XML_TYPES = frozenset({FHIR_XML, "application/xml", "text/xml"})
# Media types we answer with, by what a client may name (Accept or _format).
PRODUCED = {
    FHIR_JSON: FHIR_JSON,
    "application/json": "application/json",
    FHIR_XML: FHIR_XML,
    "application/xml": "application/xml",
    "text/xml": "text/xml",
}
FORMAT_ALIASES = {**PRODUCED, "json": FHIR_JSON, "xml": FHIR_XML}
WILDCARDS = frozenset({"*/*", "application/*"})


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _ranked(accept: str) -> list[str]:
    """Media ranges of an ``Accept`` header, best first (q-value, then position); q=0 dropped."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = part.split(";")
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q > 0 and media.strip():
            ranked.append((-q, position, media.strip().lower()))
    return [media for _, _, media in sorted(ranked)]


def choose(
    fmt: str | None, accept: str | None, content_type: str | None, extra: tuple[str, ...] = ()
) -> str:
    """The response media type for a request's ``_format``, ``Accept`` and body type.

    ``extra``: the non-FHIR media types the requested operation writes (an image),
    its default first; with no preference that default is chosen.
    """
    default = FHIR_XML if _media(content_type or "") in XML_TYPES else FHIR_JSON
    if extra:
        default = extra[0]
    if fmt:
        wanted = fmt.strip().lower().replace(" ", "+")
        extra_alias = {m.split("/", 1)[1].split("+", 1)[0]: m for m in extra}
        if wanted in extra or wanted in extra_alias:
            return wanted if wanted in extra else extra_alias[wanted]
        chosen = FORMAT_ALIASES.get(wanted)
        if chosen is None:
            raise NotAcceptable(
                f"_format={fmt} is not supported; this server speaks FHIR JSON "
                "(_format=json) and FHIR XML (_format=xml)",
                msg_id="MRTC-HTTP-406",
            )
        return chosen
    if not accept or not accept.strip():
        return default
    for media in _ranked(accept):
        if media in WILDCARDS or (extra and media == "image/*"):
            return default
        if media in extra:
            return media
        if media in PRODUCED:
            return PRODUCED[media]
    raise NotAcceptable(
        f"None of the accepted types ({accept}) is produced here: ask for "
        f"{FHIR_JSON} or {FHIR_XML}",
        msg_id="MRTC-HTTP-406",
    )


def response_type(request: Request, extra: tuple[str, ...] = ()) -> str:
    return choose(
        request.query_params.get("_format"),
        request.headers.get("accept"),
        request.headers.get("content-type"),
        extra,
    )


def error_type(request: Request) -> str:
    """The format errors are written in: the one asked for, else JSON (even for a 406)."""
    try:
        return response_type(request)
    except FhirError:
        return FHIR_JSON


def encode(body: Any, media_type: str, pretty: bool, *, must_send: bool) -> tuple[bytes, str]:
    """``body`` in ``media_type``, and the media type actually written.

    ``must_send``: the request already had its effect (a write committed, or an
    error is being reported), so content XML cannot carry goes out as JSON rather
    than turning a done write into a 406.
    """
    if media_type in XML_TYPES:
        try:
            return json_to_xml(body, pretty=pretty), media_type
        except NotAcceptable:
            if not must_send:
                raise
        media_type = FHIR_JSON
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0), media_type
