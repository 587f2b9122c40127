"""Reference search parameters (FHIR R4 search, "reference").

References are indexed as ``Type/id`` (version suffix dropped), so
``subject=Patient/1``, ``subject=1`` with ``:Patient`` or with a single
target type, and ``subject=<our base>/Patient/1`` are one equality or
``$in``. An absolute URL is kept as written and, when it ends in
``Type/id``, also as ``Type/id``, so a client that writes absolute
references to this server still chains. Canonical references are kept with
and without their ``|version``. ``:identifier`` matches
``Reference.identifier`` tokens. Chains and ``_has`` are resolved by the
storage layer into ``Type/id`` lists that arrive here as plain values.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

from fhir_server.search.criteria import RANK_REFERENCE, Criterion, bad_value, entry_list

# Index entry fields that deserve a database index: ``Type/id`` keys.
INDEX_FIELDS: tuple[str, ...] = ("v",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = True

_TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def normalise(ref: str) -> list[str]:
    """Index forms of one reference string."""
    ref = ref.strip()
    if not ref or ref.startswith("#"):
        return []  # contained resources are not searchable by reference
    ref = ref.split("/_history/")[0]
    out = [ref]
    if "|" in ref:
        out.append(ref.split("|")[0])
    if "://" in ref:
        m = _TYPE_ID.search(ref.split("|")[0])
        if m:
            out.append(f"{m[1]}/{m[2]}")
    return out


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    refs: list[str] = []
    idents: list[str] = []
    for v in values:
        if isinstance(v, str):
            refs.extend(normalise(v))
        elif isinstance(v, dict):
            if isinstance(v.get("reference"), str):
                refs.extend(normalise(v["reference"]))
            ident = v.get("identifier")
            if isinstance(ident, dict) and ident.get("value"):
                system = ident.get("system") or ""
                idents += [f"{system}|{ident['value']}", ident["value"]]
    if not refs and not idents:
        return None
    entry: dict[str, Any] = {}
    if refs:
        entry["v"] = list(dict.fromkeys(refs))
        entry["s"] = refs[0]
    if idents:
        entry["i"] = list(dict.fromkeys(idents))
    return entry


def search_keys(
    code: str, value: str, type_modifier: str | None, targets: Collection[str], base_url: str
) -> list[str]:
    """The stored forms a search value can match."""
    if not value:
        raise bad_value(code, value, "a reference is required")
    if base_url and value.startswith(base_url.rstrip("/") + "/"):
        value = value[len(base_url.rstrip("/")) + 1 :]
    value = value.split("/_history/")[0]
    if "://" in value or value.startswith("urn:"):
        return [value]
    if "/" in value:
        type_ = value.partition("/")[0]
        if type_modifier and type_ != type_modifier:
            raise bad_value(code, value, f"the type does not match ':{type_modifier}'")
        return [value]
    if type_modifier:
        return [f"{type_modifier}/{value}"]
    if not targets:
        raise bad_value(code, value, "use Type/id: this parameter has no target type")
    return [f"{t}/{value}" for t in targets]


def criterion_for_keys(keys: Sequence[str]) -> Criterion:
    wanted = set(keys)
    filt: dict[str, Any] = {"v": keys[0]} if len(keys) == 1 else {"v": {"$in": list(keys)}}
    return Criterion(
        filt, lambda e: any(r in wanted for r in entry_list(e, "v")), rank=RANK_REFERENCE
    )


def criterion(
    code: str, modifier: str | None, values: Sequence[str], targets: Collection[str], base_url: str
) -> Criterion:
    if modifier == "identifier":
        wanted = set(values)
        return Criterion(
            {"i": {"$in": list(values)}},
            lambda e: any(i in wanted for i in entry_list(e, "i")),
            rank=RANK_REFERENCE,
        )
    keys: list[str] = []
    for v in values:
        keys.extend(search_keys(code, v, modifier, targets, base_url))
    return criterion_for_keys(list(dict.fromkeys(keys)))
