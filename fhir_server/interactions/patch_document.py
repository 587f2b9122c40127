"""Checking a JSON Patch document before it is applied (RFC 6902 section 4, RFC 6901).

A malformed patch is the client's mistake and a 400 naming the operation;
only a well-formed patch that does not fit the resource (a ``test`` that
fails, a path into nothing) is the 422 of ``interactions/patch.py``. The
``jsonpatch`` library checks some of this while building the patch and some
only while applying it, with exceptions of its own; checking the document
here first makes the answer the same whichever rule is broken.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_server.errors import InvalidRequest

MSG_BAD_PATCH = "MRTC-REST-071"
OPERATIONS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
NEEDS_VALUE = frozenset({"add", "replace", "test"})
NEEDS_FROM = frozenset({"move", "copy"})
# RFC 6901: "" or a sequence of "/" + token, where "~" is only "~0" or "~1".
POINTER = re.compile(r"(/([^~/]|~[01])*)*")


def _fail(index: int, text: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid JSON Patch: operation {index}: {text}",
        expression=(f"[{index}]",),
        msg_id=MSG_BAD_PATCH,
    )


def _pointer(index: int, op: dict[str, Any], member: str) -> None:
    value = op.get(member)
    if not isinstance(value, str):
        raise _fail(index, f"'{member}' must be a JSON Pointer string such as \"/gender\"")
    if POINTER.fullmatch(value) is None:
        raise _fail(
            index,
            f"'{member}' {value!r} is not a JSON Pointer: it starts with '/' "
            "and escapes '~' as '~0' and '/' as '~1'",
        )


def check_document(body: Any) -> list[dict[str, Any]]:
    """Return ``body`` if it is a well-formed JSON Patch document; 400 otherwise."""
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise InvalidRequest(
            "A JSON Patch document must be an array of operation objects",
            msg_id=MSG_BAD_PATCH,
        )
    for index, op in enumerate(body):
        name = op.get("op")
        if name not in OPERATIONS:
            raise _fail(index, f"'op' must be one of {', '.join(sorted(OPERATIONS))}")
        _pointer(index, op, "path")
        if name in NEEDS_VALUE and "value" not in op:
            raise _fail(index, f"'{name}' needs a 'value'")
        if name in NEEDS_FROM:
            _pointer(index, op, "from")
    return body
