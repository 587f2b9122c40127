"""``_summary`` and ``_elements``: serving part of each resource.

A subsetted resource is marked with the ``SUBSETTED`` tag (FHIR R4,
"Summary"), so a client can never mistake it for the whole resource and
write it back. ``id``, ``meta`` and ``resourceType`` are always kept.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
_ALWAYS = ("resourceType", "id", "meta")


def _keep(resource: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """Keep top-level elements whose name (choice suffix included) is in ``names``."""
    out = {}
    for key, value in resource.items():
        base = key.lstrip("_")
        if (
            key in _ALWAYS
            or base in names
            or any(base.startswith(n) and base[len(n) : len(n) + 1].isupper() for n in names)
        ):
            out[key] = value
    return out


def _tag(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("code") == "SUBSETTED" for t in tags):
        tags.append(SUBSETTED)
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def shape(
    resource: dict[str, Any],
    summary: str | None,
    elements: Collection[str],
    summary_elements: Collection[str],
) -> dict[str, Any]:
    """The resource as ``_summary`` / ``_elements`` ask (the stored dict is never mutated)."""
    if summary == "true":
        return _tag(_keep(resource, summary_elements))
    if summary == "text":
        return _tag(_keep(resource, ("text",)))
    if summary == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
        return _tag(out)
    if elements:
        return _tag(_keep(resource, elements))
    return copy.copy(resource)
