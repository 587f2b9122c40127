"""References between the entries of a batch or transaction, and conditional references.

https://hl7.org/fhir/R4/bundle.html#references and
https://hl7.org/fhir/R4/http.html#trules. An entry's resource may point at
another entry through that entry's ``fullUrl``: a ``urn:uuid:``/``urn:oid:``
placeholder, an absolute URL, or - when the pointing entry's own fullUrl is
a RESTful URL ``[base]/[type]/[id]`` - a relative ``Type/id`` read against
that base. The server replaces each such reference by the ``Type/id`` it
gives the target entry. A placeholder that names no entry's fullUrl can
never be resolved and is refused before anything runs; two entries with one
fullUrl make every such reference ambiguous and fail the whole bundle (400).

A conditional reference (``Organization?identifier=sys|value``) is replaced
by the one resource its criteria match, and refused when none or several
match (412). Only filtering parameters are allowed in it.

This module finds and rewrites; ``bundle.py`` decides the order (dependency
order for a batch, the spec's order for a transaction).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import InvalidRequest, MultipleMatches, PreconditionFailed
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import find_matches
from fhir_server.profiles.reference_targets import FoundReference, core_map
from fhir_server.resource_types import is_supported

_RESTFUL = re.compile(r"^(https?://.+)/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_RELATIVE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
# Parameters that shape results rather than filter: meaningless in a conditional reference.
_RESULT_PARAMETERS = frozenset(
    {
        "_sort",
        "_count",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_contained",
        "_containedType",
        "_total",
        "_format",
    }
)


@dataclass
class EntryRefs:
    """The references of one entry's resource that name other entries or conditions."""

    index: int
    full_url: str | None
    internal: dict[str, list[FoundReference]] = field(default_factory=dict)  # fullUrl -> refs
    conditional: dict[str, list[FoundReference]] = field(default_factory=dict)  # query -> refs
    unknown_placeholders: list[tuple[str, str]] = field(default_factory=list)  # (ref, where)

    @property
    def depends_on(self) -> set[str]:
        return set(self.internal)


def duplicate_full_urls(entries: list[Any]) -> dict[str, list[int]]:
    """fullUrl -> the indexes of the entries sharing it, for every fullUrl used twice."""
    seen: dict[str, list[int]] = {}
    for i, raw in enumerate(entries):
        url = raw.get("fullUrl") if isinstance(raw, dict) else None
        if isinstance(url, str) and url:
            seen.setdefault(url, []).append(i)
    return {url: where for url, where in seen.items() if len(where) > 1}


def refuse_duplicates(entries: list[Any]) -> None:
    """400 naming the entries when two of them declare the same fullUrl."""
    dup = duplicate_full_urls(entries)
    if not dup:
        return
    url, where = next(iter(dup.items()))
    names = ", ".join(f"Bundle.entry[{i}]" for i in where)
    raise InvalidRequest(
        f"fullUrl '{url}' is declared by {names}: fullUrls must be unique within a bundle",
        expression=tuple(f"Bundle.entry[{i}].fullUrl" for i in where),
        msg_id="MRTC-BNDL-011",
    )


def internal_target(ref: str, holder_full_url: str | None, full_urls: set[str]) -> str | None:
    """The fullUrl of the entry ``ref`` points at, or ``None`` if it names none."""
    if ref in full_urls:
        return ref
    unversioned = ref.split("/_history/", 1)[0]
    if unversioned in full_urls:
        return unversioned
    if holder_full_url and _RELATIVE.match(unversioned):
        restful = _RESTFUL.match(holder_full_url)
        if restful:
            candidate = f"{restful.group(1)}/{unversioned}"
            if candidate in full_urls:
                return candidate
    return None


def scan(
    index: int, full_url: str | None, resource: Any, full_urls: set[str], base_url: str
) -> EntryRefs:
    """Sort the references of one entry's resource into internal, conditional, unknown."""
    out = EntryRefs(index, full_url)
    if not isinstance(resource, dict):
        return out
    for found in core_map().references(resource):
        ref = found.value.get("reference")
        if not isinstance(ref, str):
            continue
        if base_url and ref.startswith(base_url + "/") and ref not in full_urls:
            ref = ref[len(base_url) + 1 :]  # our own absolute URL: the relative rules apply
        target = internal_target(ref, full_url, full_urls)
        if target is not None:
            out.internal.setdefault(target, []).append(found)
        elif ref.startswith(("urn:uuid:", "urn:oid:")):
            out.unknown_placeholders.append((ref, found.location))
        elif "?" in ref and ref[:1].isupper() and "/" not in ref.split("?", 1)[0]:
            out.conditional.setdefault(ref, []).append(found)
    return out


def unknown_placeholder_error(refs: EntryRefs) -> InvalidRequest:
    ref, where = refs.unknown_placeholders[0]
    return InvalidRequest(
        f"{where}: '{ref}' names no entry of this bundle (no entry has this fullUrl), "
        "so it cannot be resolved",
        expression=(where,),
        msg_id="MRTC-BNDL-012",
    )


def rewrite(refs: EntryRefs, resolved: dict[str, str]) -> None:
    """Point every internal and conditional reference at the ``Type/id`` resolved for it."""
    for key, found in (*refs.internal.items(), *refs.conditional.items()):
        target = resolved.get(key)
        if target is None:
            continue
        for f in found:
            f.value["reference"] = target


async def resolve_conditional(ctx: Context, refs: EntryRefs, resolved: dict[str, str]) -> None:
    """Search each conditional reference once; exactly one match, else 412 naming it."""
    for ref, found in refs.conditional.items():
        if ref in resolved:
            continue
        type_, _, query = ref.partition("?")
        where = found[0].location
        if not is_supported(type_):
            raise InvalidRequest(
                f"{where}: conditional reference '{ref}' names '{type_}', which is not a "
                "resource type this server holds",
                expression=(where,),
                msg_id="MRTC-BNDL-016",
            )
        shaping = sorted({k.split(":", 1)[0] for k in _keys(query)} & _RESULT_PARAMETERS)
        if shaping:
            raise InvalidRequest(
                f"{where}: conditional reference '{ref}' may only filter; "
                f"{', '.join(shaping)} shape results",
                expression=(where,),
                msg_id="MRTC-BNDL-017",
            )
        matches = await find_matches(ctx, type_, query)
        if not matches:
            raise PreconditionFailed(
                f"{where}: conditional reference '{ref}' matches no {type_} "
                "(exactly one is required)",
                expression=(where,),
                msg_id="MRTC-BNDL-010",
            )
        if len(matches) > 1:
            raise MultipleMatches(
                f"{where}: conditional reference '{ref}' matches {len(matches)} {type_} "
                "resources (exactly one is required)",
                expression=(where,),
                msg_id="MRTC-BNDL-015",
            )
        resolved[ref] = f"{type_}/{matches[0].id}"


def _keys(query: str) -> Iterator[str]:
    for part in query.split("&"):
        if part:
            yield part.split("=", 1)[0]


def dependency_order(scans: list[EntryRefs], owner: dict[str, int]) -> tuple[list[int], set[int]]:
    """Entries in an order where each comes after the entries it references.

    Ties keep the request's order. Returns the order of the entries that can
    be sorted and the indexes of those caught in a reference cycle (a batch
    writes entries one by one, so a cycle cannot satisfy referential integrity).
    """
    needs = {
        s.index: {owner[u] for u in s.depends_on if u in owner and owner[u] != s.index}
        for s in scans
    }
    done: set[int] = set()
    order: list[int] = []
    remaining = sorted(needs)
    progress = True
    while remaining and progress:
        progress = False
        for i in list(remaining):
            if needs[i] <= done:
                order.append(i)
                done.add(i)
                remaining.remove(i)
                progress = True
                break  # restart from the lowest index: stable order
    return order, set(remaining)
