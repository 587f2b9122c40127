"""Reading JSON request text: RFC 8259 as orjson reads it, plus two refusals.

orjson is strict where it matters (UTF-8 only, no NaN or Infinity, no lone
surrogates, no byte-order mark) but, like most parsers, keeps the last of two
equal keys silently and accepts 1,024 levels of nesting. FHIR JSON forbids
the first (https://hl7.org/fhir/R4/json.html: a property appears once) and
the database refuses documents nested 100 levels deep, and recursive code
meets Python's recursion limit before orjson's; so a body that repeats a key
or nests deeper than ``FHIR_MAX_DEPTH`` is a 400 here, before anything else
reads it.

Duplicate keys without a second parse: every key of the text is a string
closed by ``"`` and followed by ``:`` (JSON whitespace aside), so, once all
JSON whitespace is removed, the count of ``":`` is at least the number of
keys in the text, and it only exceeds it when a string's content itself holds
``":``. The parsed objects hold that many keys exactly when no key was
repeated. So: count the parsed keys (one pass that also measures depth), count
``":`` (two C-speed byte operations), and only when the counts differ parse
again with the standard library to find the repeated key, or to learn that
a string merely contained ``":``. ``bench/validation_bench.py`` measures it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from fhir_server.errors import InvalidRequest

MSG_MALFORMED = "MRTC-HTTP-400"
MSG_DUPLICATE_KEY = "MRTC-JSON-001"
MSG_TOO_DEEP = "MRTC-JSON-002"
_JSON_WHITESPACE = b" \t\n\r"


class _TooDeep(Exception):
    pass


def _measure(node: Any, depth: int, limit: int) -> int:
    """Keys held by the objects under ``node`` (itself at ``depth``); stops past ``limit``."""
    if depth > limit:
        raise _TooDeep
    if type(node) is dict:
        keys = len(node)
        items = node.values()
    else:
        keys = 0
        items = node
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            keys += _measure(item, depth + 1, limit)
    return keys


def _repeated_key(raw: bytes) -> str | None:
    """The first key an object of ``raw`` repeats, or None (slow path only)."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items) and not found:
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    found.append(key)
                    break
                seen.add(key)
        return out

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except ValueError:  # orjson read it; the standard library's own limits are not the client's
        return None
    return found[0] if found else None


def loads(raw: bytes, *, max_depth: int) -> Any:
    """Parse a request body; 400 for malformed JSON, a repeated key or too much nesting."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc}", msg_id=MSG_MALFORMED
        ) from None
    kind = type(doc)
    if kind is not dict and kind is not list:
        return doc
    try:
        keys = _measure(doc, 1, max_depth)
    except _TooDeep:
        raise InvalidRequest(
            f"The request body is nested deeper than {max_depth} levels (FHIR_MAX_DEPTH)",
            msg_id=MSG_TOO_DEEP,
        ) from None
    if raw.translate(None, _JSON_WHITESPACE).count(b'":') != keys:
        key = _repeated_key(raw)
        if key is not None:
            raise InvalidRequest(
                f"The request body repeats the key '{key}' in one object; "
                "a FHIR JSON property appears once",
                msg_id=MSG_DUPLICATE_KEY,
            )
    return doc
