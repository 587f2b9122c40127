"""Composite search parameters (FHIR R4 search, "composite").

A composite such as Observation ``code-value-quantity`` matches when *one*
element (the Observation, or one of its components) satisfies every part,
so each element is indexed as a tuple of its components' own entries in
``p``, and the first component's tokens go to ``k`` for the index lookup.
A search value ``loinc|8480-6$gt100`` becomes one criterion per component
(built by that component type's own module) that must hold on the same
tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fhir_server.errors import UnsupportedParameter
from fhir_server.search.criteria import RANK_SCAN, RANK_TOKEN, Criterion, Entry, bad_value, or_test

# Index entry fields that deserve a database index: the first component's keys.
INDEX_FIELDS: tuple[str, ...] = ("k",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = False

Extractor = Callable[[str, Sequence[Any]], dict[str, Any] | None]
CriterionFactory = Callable[[str, str], Criterion]  # (component type, raw value) -> criterion


def extract(
    items: Sequence[Any],
    evaluators: Sequence[Callable[[Any], list[Any]]],
    types: Sequence[str],
    extract_one: Extractor,
) -> dict[str, Any] | None:
    return extract_pairs([(item, evaluators) for item in items], types, extract_one)


def extract_pairs(
    pairs: Sequence[tuple[Any, Sequence[Callable[[Any], list[Any]]]]],
    types: Sequence[str],
    extract_one: Extractor,
) -> dict[str, Any] | None:
    """Each item with the evaluators of its components (a walker's or the engine's)."""
    tuples: list[list[dict[str, Any]]] = []
    keys: list[str] = []
    for item, evaluators in pairs:
        entries = []
        for evaluate, type_ in zip(evaluators, types, strict=True):
            entry = extract_one(type_, evaluate(item))
            if entry is None:
                break
            entries.append(entry)
        else:
            tuples.append(entries)
            keys.extend(entries[0].get("v", []) or entries[0].get("n", []))
    if not tuples:
        return None
    return {"k": list(dict.fromkeys(keys)), "p": tuples}


def criterion(
    code: str, values: Sequence[str], types: Sequence[str], make: CriterionFactory
) -> Criterion:
    if not types or any(t is None for t in types):
        raise UnsupportedParameter(
            f"Composite parameter '{code}' has unknown components", msg_id="MRTC-SRCH-034"
        )
    alternatives = []
    keys: list[str] | None = []
    for raw in values:
        parts = raw.split("$")
        if len(parts) != len(types):
            raise bad_value(code, raw, f"expected {len(types)} parts separated by '$'")
        crits = [make(t, p) for t, p in zip(types, parts, strict=True)]
        alternatives.append(_tuple_test(crits))
        first = crits[0].filter.get("v")
        if keys is not None and isinstance(first, str):
            keys.append(first)
        elif keys is not None and isinstance(first, dict) and "$in" in first:
            keys.extend(first["$in"])
        else:
            keys = None
    test = or_test(alternatives)
    if keys:
        return Criterion({"k": {"$in": keys}}, test, exact=False, rank=RANK_TOKEN)
    return Criterion({"": {"$exists": True}}, test, exact=False, rank=RANK_SCAN)


def _tuple_test(crits: Sequence[Criterion]) -> Callable[[Entry], bool]:
    def test(entry: Entry) -> bool:
        for entries in (entry or {}).get("p", []):
            if all(c.test(e) for c, e in zip(crits, entries, strict=False)):
                return True
        return False

    return test
