"""Read a transaction bundle's targets ahead, one query per type.

Inside a transaction bundle every entry used to read what it needs on its own:
the current version of the resource a PUT replaces, the patient a measure is
about (the biometric rules), the absence of the id a POST was given (the
access policy). Each of those reads is a round trip, and each one also forces
the writes held so far to be sent first (``storage.unit_of_work``), so the
bundle's writes could never be sent together. Reading them all ahead, once the
entries' ids are assigned and their references rewritten, turns a few hundred
reads into one ``$in`` query per type; the entries then read the same versions
from the transaction's known set. Nothing is decided here: every entry still
runs its own interaction, with its own checks, on what it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir_server.interactions.context import Context
from fhir_server.interactions.references import local_targets
from fhir_server.interactions.routing import FhirRequest
from fhir_server.resource_types import is_supported

_TARGETED = frozenset({"update", "patch", "delete"})
_WITH_BODY = frozenset({"create", "update", "conditional-update"})


def keys(requests: Iterable[FhirRequest], base_url: str) -> dict[str, set[str]]:
    """Type -> the ids the entries will read: their own targets and their references'."""
    out: dict[str, set[str]] = {}

    def add(type_: str | None, id_: str | None) -> None:
        if type_ and id_ and is_supported(type_):
            out.setdefault(type_, set()).add(id_)

    for req in requests:
        body: Any = req.body if req.interaction in _WITH_BODY else None
        if req.interaction in _TARGETED:
            add(req.type, req.id)
        elif req.interaction == "create":
            add(req.type, req.assigned_id)
        elif req.interaction == "conditional-update" and isinstance(body, dict):
            add(req.type, body.get("id") if isinstance(body.get("id"), str) else None)
        if isinstance(body, dict):
            for pending in local_targets(body, base_url).values():
                add(pending.target.type, pending.target.id)
    return out


async def read_ahead(tx: Context, requests: Iterable[FhirRequest]) -> None:
    """Read every target of ``requests`` into the transaction, one query per type.

    Unrestricted: what is read ahead only answers the transaction's later
    unrestricted reads (storage applies a caller's restriction on its own reads).
    """
    scope = tx.scope.unrestricted()
    for type_, ids in sorted(keys(requests, tx.base_url).items()):
        await tx.services.repository.read_many(type_, sorted(ids), scope)
