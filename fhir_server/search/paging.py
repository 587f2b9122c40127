"""Stable paging: opaque cursors over (sort key, id), and absolute links.

A page is anchored on the sort values and id of the last (or, going back,
the first) resource shown, never on an offset, so resources created or
deleted between two requests neither repeat nor vanish from the pages not
yet seen. The cursor is base64url BSON; it is decoded as data and every
value is checked to be a scalar before it reaches a filter, so a forged
cursor cannot smuggle an operator into the query.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import bson
from bson.errors import BSONError

from fhir_server.errors import InvalidRequest

_SCALARS = (str, int, float, bool, datetime, type(None))


@dataclass(frozen=True)
class Cursor:
    keys: tuple[Any, ...]  # sort values of the anchor resource, in sort order
    id: str  # its logical id (the final tie-break)
    forward: bool = True  # next page (after the anchor) or previous page (before it)
    type_index: int = 0  # system search: which of the searched types the anchor is in

    def encode(self) -> str:
        raw = bson.encode(
            {"k": list(self.keys), "i": self.id, "f": self.forward, "t": self.type_index}
        )
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            doc = bson.decode(raw)
            keys, id_, forward, type_index = doc["k"], doc["i"], doc["f"], doc["t"]
        except (ValueError, KeyError, BSONError, TypeError):
            raise InvalidRequest(
                "The paging cursor is invalid or expired", msg_id="MRTC-SRCH-040"
            ) from None
        if (
            not isinstance(keys, list)
            or not all(isinstance(k, _SCALARS) for k in keys)
            or not isinstance(id_, str)
            or not isinstance(forward, bool)
            or not isinstance(type_index, int)
        ):
            raise InvalidRequest("The paging cursor is invalid or expired", msg_id="MRTC-SRCH-040")
        return cls(tuple(keys), id_, forward, type_index)


def search_url(
    base_url: str, type_: str | None, params: list[tuple[str, str]], cursor: Cursor | None = None
) -> str:
    """Absolute URL of a search page: the applied parameters plus the cursor."""
    path = f"{base_url.rstrip('/')}/{type_}" if type_ else base_url.rstrip("/")
    items = list(params)
    if cursor is not None:
        items.append(("_cursor", cursor.encode()))
    query = urlencode(items, safe=",:|/$")
    return f"{path}?{query}" if query else path
