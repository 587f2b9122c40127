"""The one route table: which FHIR interaction a method and URL path name.

Both the HTTP layer and bundle entries (``entry.request.url``) resolve their
requests here, so a URL means the same thing wherever it appears. Paths are
matched segment by segment against shapes; ``TYPE`` is any supported resource
type, ``ID`` a FHIR id, ``OP`` an ``$operation`` name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from fhir_server.errors import InvalidRequest, MethodNotAllowed, ResourceNotFound
from fhir_server.resource_types import is_supported, require_type

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
VID_RE = re.compile(r"^[0-9]{1,18}$")

TYPE, ID, OP, VID = "{type}", "{id}", "{op}", "{vid}"

# (path shape, {method: interaction})
ROUTES: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("metadata",), {"GET": "capabilities"}),
    (("_history",), {"GET": "history-system"}),
    (("_search",), {"POST": "search-system"}),
    ((), {"GET": "search-system", "POST": "bundle"}),
    ((OP,), {"GET": "operation", "POST": "operation"}),
    (
        (TYPE,),
        {
            "GET": "search-type",
            "POST": "create",
            "PUT": "conditional-update",
            "PATCH": "conditional-patch",
            "DELETE": "conditional-delete",
        },
    ),
    ((TYPE, "_search"), {"POST": "search-type"}),
    ((TYPE, "_history"), {"GET": "history-type"}),
    ((TYPE, OP), {"GET": "operation", "POST": "operation"}),
    ((TYPE, ID), {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}),
    ((TYPE, ID, "_history"), {"GET": "history-instance"}),
    ((TYPE, ID, "_history", VID), {"GET": "vread"}),
    ((TYPE, ID, OP), {"GET": "operation", "POST": "operation"}),
)


@dataclass
class FhirRequest:
    """A FHIR request stripped of HTTP: what the interactions receive."""

    method: str
    interaction: str
    type: str | None = None
    id: str | None = None
    vid: int | None = None
    operation: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    content_type: str = ""
    if_match: str | None = None
    if_none_match: str | None = None
    if_none_exist: str | None = None
    if_modified_since: str | None = None
    prefer_return: str | None = None  # minimal | representation | OperationOutcome
    prefer_handling: str | None = None  # strict | lenient
    query_string: str = ""
    assigned_id: str | None = None  # set by a transaction for its POST entries
    condition_resolved: bool = False  # a transaction already evaluated If-None-Exist
    response_type: str = ""  # the media type negotiated for the answer (an image, for some ops)

    @property
    def strict(self) -> bool:
        return self.prefer_handling == "strict"


def _matches(segment: str, shape: str) -> bool:
    if shape == TYPE:
        return not segment.startswith(("$", "_")) and segment[:1].isupper()
    if shape == OP:
        return segment.startswith("$") and len(segment) > 1
    if shape == ID:
        return not segment.startswith(("$", "_"))
    if shape == VID:
        return True
    return segment == shape


def resolve(method: str, path: str, query: str = "") -> FhirRequest:
    """Turn a method and a path relative to the base into a ``FhirRequest``.

    Raises 404 for unknown types or paths, 405 for a known path with a
    method it does not take, and 400 for a malformed id or version.
    """
    method = method.upper()
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    for shape, methods in ROUTES:
        if len(shape) != len(segments):
            continue
        if not all(_matches(seg, sh) for seg, sh in zip(segments, shape, strict=True)):
            continue
        interaction = methods.get(method)
        if interaction is None:
            raise MethodNotAllowed(
                f"{method} is not allowed on /{'/'.join(segments)}",
                headers={"Allow": ", ".join(sorted(methods))},
                msg_id="MRTC-REST-005",
            )
        req = FhirRequest(
            method=method,
            interaction=interaction,
            params=parse_qsl(query, keep_blank_values=True),
            query_string=query,
        )
        for seg, sh in zip(segments, shape, strict=True):
            if sh == TYPE:
                req.type = require_type(seg)
            elif sh == ID:
                if not ID_RE.match(seg):
                    raise InvalidRequest(
                        f"'{seg}' is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})",
                        msg_id="MRTC-REST-006",
                    )
                req.id = seg
            elif sh == VID:
                if not VID_RE.match(seg):
                    raise InvalidRequest(
                        f"'{seg}' is not a valid version id", msg_id="MRTC-REST-007"
                    )
                req.vid = int(seg)
            elif sh == OP:
                req.operation = seg[1:]
        return req
    if segments and segments[0][:1].isupper() and not is_supported(segments[0]):
        require_type(segments[0])
    raise ResourceNotFound(f"No FHIR endpoint at /{'/'.join(segments)}", msg_id="MRTC-REST-004")
