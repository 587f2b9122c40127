"""Number search parameters (FHIR R4 search, "number").

Values are indexed as floats in ``v``. A search value stands for the range
its precision implies (``100`` is [99.5, 100.5), ``1e2`` the same,
``100.00`` is [99.995, 100.005)); ``eq``/``ne`` compare with that range, the
other prefixes with the value itself, ``ap`` within 10%.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from fhir_server.search.criteria import (
    RANK_RANGE,
    RANK_SCAN,
    Criterion,
    Entry,
    bad_value,
    entry_list,
    or_test,
    split_prefix,
)
from fhir_server.search.values import implicit_range, parse_decimal

# Index entry fields that deserve a database index: the numbers.
INDEX_FIELDS: tuple[str, ...] = ("v",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = False


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    nums = [
        float(v) for v in values if isinstance(v, int | float | Decimal) and not isinstance(v, bool)
    ]
    if not nums:
        return None
    return {"v": nums, "s": min(nums)}


def parse(code: str, raw: str) -> tuple[str, Decimal]:
    prefix, text = split_prefix(raw)
    d = parse_decimal(text)
    if d is None:
        raise bad_value(code, raw, "expected [prefix]number")
    return prefix, d


def value_test(prefix: str, d: Decimal) -> tuple[Callable[[float], bool], dict[str, Any], bool]:
    """(exact test on one stored value, index range on ``v``, is that range exact)."""
    lo, hi = implicit_range(d)
    flo, fhi, fd = float(lo), float(hi), float(d)
    if prefix == "ap":
        margin = abs(d) * Decimal("0.1")
        alo, ahi = float(d - margin), float(d + margin)
        return (lambda v: alo <= v <= ahi), {"$gte": alo, "$lte": ahi}, False
    table: dict[str, tuple[Callable[[float], bool], dict[str, Any], bool]] = {
        "eq": ((lambda v: flo <= v < fhi), {"$gte": flo, "$lt": fhi}, False),
        "ne": ((lambda v: not flo <= v < fhi), {}, False),
        "gt": ((lambda v: v > fd), {"$gt": fd}, True),
        "sa": ((lambda v: v > fd), {"$gt": fd}, True),
        "lt": ((lambda v: v < fd), {"$lt": fd}, True),
        "eb": ((lambda v: v < fd), {"$lt": fd}, True),
        "ge": ((lambda v: v >= fd), {"$gte": fd}, True),
        "le": ((lambda v: v <= fd), {"$lte": fd}, True),
    }
    return table[prefix]


def criterion(code: str, values: Sequence[str]) -> Criterion:
    parts = []
    for raw in values:
        prefix, d = parse(code, raw)
        test, rng, exact = value_test(prefix, d)

        def entry_test(
            e: Entry, test: Callable[[float], bool] = test, ne: bool = prefix == "ne"
        ) -> bool:
            vs = entry_list(e, "v")
            return bool(vs) and (all(test(v) for v in vs) if ne else any(test(v) for v in vs))

        parts.append(
            Criterion(
                {"v": rng} if rng else {"": {"$exists": True}},
                entry_test,
                exact=exact,
                rank=RANK_RANGE if rng else RANK_SCAN,
            )
        )
    if len(parts) == 1:
        return parts[0]
    return Criterion(
        {"": {"$exists": True}}, or_test([p.test for p in parts]), exact=False, rank=RANK_SCAN
    )
