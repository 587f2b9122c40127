"""Stable paging: opaque cursors over (sort key, id), and absolute links.

One cursor format serves search and history alike (history sorts on
``lastUpdated`` and the version key).

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
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import bson
from bson.codec_options import CodecOptions
from bson.errors import BSONError

from fhir_server.errors import InvalidRequest

_SCALARS = (str, int, float, bool, datetime, type(None))
# Sort keys that are dates come back as aware UTC, like everything the database returns:
# a naive anchor compared with aware keys would misplace the page boundary.
_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    keys: tuple[Any, ...]  # sort values of the anchor resource, in sort order
    id: str  # its logical id (the final tie-break)
    forward: bool = True  # next page (after the anchor) or previous page (before it)
    type_index: int = 0  # system search: which of the searched types the anchor is in
    window: int = 0  # id-order pages: width of the next id window (see ``id_number``), 0 = none

    def encode(self) -> str:
        raw = bson.encode(
            {
                "k": list(self.keys),
                "i": self.id,
                "f": self.forward,
                "t": self.type_index,
                "w": str(self.window),
            }
        )
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            doc = bson.decode(raw, codec_options=_CODEC)
            keys, id_, forward, type_index = doc["k"], doc["i"], doc["f"], doc["t"]
            window = int(doc.get("w", "0"))
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
            or not 0 <= window < ID_SPACE
        ):
            raise InvalidRequest("The paging cursor is invalid or expired", msg_id="MRTC-SRCH-040")
        return cls(tuple(keys), id_, forward, type_index, window)


# Id windows. FHIR ids are ASCII, so the first ID_DIGITS characters of an id
# read as a base-128 number preserve the ids' order; an id window is a range of
# such numbers. Used to keep deep pages cheap on a planner that materialises
# the whole remaining range before applying limit (storage.paging).
ID_DIGITS = 16
ID_SPACE = 128**ID_DIGITS


def id_number(id_: str) -> int:
    n = 0
    for ch in id_[:ID_DIGITS].ljust(ID_DIGITS, "\x00"):
        n = n * 128 + min(ord(ch), 127)
    return n


def id_bound(n: int) -> str | None:
    """The smallest string whose number is ``n`` (None past the last possible id)."""
    if n >= ID_SPACE:
        return None
    chars = []
    for _ in range(ID_DIGITS):
        n, digit = divmod(n, 128)
        chars.append(chr(digit))
    return "".join(reversed(chars)).rstrip("\x00").replace("\x00", "\x01")


def window_for(first_id: str, last_id: str, shown: int, wanted: int) -> int:
    """Id-window width expected to hold ``wanted`` matches, from the span of a page."""
    if shown < 2:
        return 0
    span = id_number(last_id) - id_number(first_id)
    return int(min(ID_SPACE - 1, max(1, span * wanted // (shown - 1))))


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
