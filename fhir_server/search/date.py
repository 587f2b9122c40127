"""Date search parameters (FHIR R4 search, "date").

Every date, dateTime, instant, Period or Timing is indexed as parallel
arrays of half-open UTC bounds ``lo[i]``/``hi[i]`` (a partial date covers its
whole precision: ``2010`` is [2010-01-01, 2011-01-01)), plus ``s``/``e``
(earliest start, latest end) as sort keys. Each prefix is a comparison of
the search range [a, b) with a stored range [lo, hi):

    eq  a <= lo and hi <= b      ne  not eq
    gt  hi > b                   lt  lo < a
    ge  hi > a                   le  lo < b
    sa  lo >= b                  eb  hi <= a
    ap  the ranges intersect once the search range is widened by 10% of its
        distance to now

The one-bound prefixes are single index ranges and exact on multikey
arrays ("some value ends after b"); ``eq`` and ``ap`` need both bounds of the
*same* value, so their filter is a superset refined by ``test``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.search.criteria import (
    RANK_RANGE,
    RANK_SCAN,
    RANK_STRING,
    Criterion,
    Entry,
    bad_value,
    entry_list,
    or_test,
    split_prefix,
)
from fhir_server.search.values import MAX_DATE, MIN_DATE, date_range, to_utc

# Index entry fields that deserve a database index: the bounds of each value's [low, high) range.
INDEX_FIELDS: tuple[str, ...] = ("lo", "hi")
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = False


def _ranges(value: Any, out: list[tuple[datetime, datetime]]) -> None:
    if isinstance(value, str):
        r = date_range(value)
        if r:
            out.append(r)
    elif isinstance(value, datetime):
        v = to_utc(value)
        out.append((v, v + timedelta(milliseconds=1)))
    elif isinstance(value, dict):
        if "start" in value or "end" in value:  # Period: an open end is unbounded
            start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
            end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
            if start or end:
                out.append((start[0] if start else MIN_DATE, end[1] if end else MAX_DATE))
        for event in value.get("event", []) or []:  # Timing
            _ranges(event, out)
        bounds = (value.get("repeat") or {}).get("boundsPeriod")
        if bounds:
            _ranges(bounds, out)
    elif hasattr(value, "__str__") and type(value).__name__.startswith("FP_"):
        _ranges(str(value), out)


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    ranges: list[tuple[datetime, datetime]] = []
    for v in values:
        _ranges(v, ranges)
    if not ranges:
        return None
    ranges = list(dict.fromkeys(ranges))
    return {
        "lo": [r[0] for r in ranges],
        "hi": [r[1] for r in ranges],
        "s": min(r[0] for r in ranges),
        "e": max(r[1] for r in ranges),
    }


def pairs(entry: Entry) -> list[tuple[datetime, datetime]]:
    return list(zip(entry_list(entry, "lo"), entry_list(entry, "hi"), strict=False))


def parse(code: str, raw: str) -> tuple[str, datetime, datetime]:
    prefix, text = split_prefix(raw)
    r = date_range(text)
    if r is None:
        raise bad_value(code, raw, "expected [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.sss]][Z|+hh:mm]]]]")
    return prefix, r[0], r[1]


def range_test(prefix: str, a: datetime, b: datetime) -> Callable[[datetime, datetime], bool]:
    """The exact comparison of one stored range [lo, hi) with the search range [a, b)."""
    if prefix == "ap":
        now = datetime.now(UTC)
        delta = max(abs(now - a) * 0.1, timedelta(days=1))
        a2, b2 = a - delta, b + delta
        return lambda lo, hi: lo < b2 and hi > a2
    tests: dict[str, Callable[[datetime, datetime], bool]] = {
        "eq": lambda lo, hi: a <= lo and hi <= b,
        "ne": lambda lo, hi: not (a <= lo and hi <= b),
        "gt": lambda lo, hi: hi > b,
        "lt": lambda lo, hi: lo < a,
        "ge": lambda lo, hi: hi > a,
        "le": lambda lo, hi: lo < b,
        "sa": lambda lo, hi: lo >= b,
        "eb": lambda lo, hi: hi <= a,
    }
    return tests[prefix]


def _one(prefix: str, a: datetime, b: datetime) -> Criterion:
    cmp = range_test(prefix, a, b)
    if prefix == "ne":
        return Criterion(
            {"": {"$exists": True}},
            lambda e: bool(pairs(e)) and not any(not cmp(lo, hi) for lo, hi in pairs(e)),
            exact=False,
            rank=RANK_SCAN,
        )

    def test(e: Entry) -> bool:
        return any(cmp(lo, hi) for lo, hi in pairs(e))

    single: dict[str, dict[str, Any]] = {
        "gt": {"hi": {"$gt": b}},
        "lt": {"lo": {"$lt": a}},
        "ge": {"hi": {"$gt": a}},
        "le": {"lo": {"$lt": b}},
        "sa": {"lo": {"$gte": b}},
        "eb": {"hi": {"$lte": a}},
    }
    if prefix in single:
        return Criterion(single[prefix], test, rank=RANK_RANGE + 5)
    if prefix == "eq":
        # A day (a birth date) is usually more selective than a short name prefix.
        width = b - a
        rank = RANK_STRING if width <= timedelta(days=1) else RANK_RANGE
        return Criterion(
            {"lo": {"$gte": a, "$lt": b}, "hi": {"$lte": b}}, test, exact=False, rank=rank
        )
    # ap: a superset from the widened bounds
    now = datetime.now(UTC)
    delta = max(abs(now - a) * 0.1, timedelta(days=1))
    return Criterion({"lo": {"$lt": b + delta}}, test, exact=False, rank=RANK_RANGE + 10)


def criterion(code: str, values: Sequence[str]) -> Criterion:
    parsed = [parse(code, v) for v in values]
    if len(parsed) == 1:
        return _one(*parsed[0])
    parts = [_one(*p) for p in parsed]
    return Criterion(
        {"": {"$exists": True}}, or_test([p.test for p in parts]), exact=False, rank=RANK_SCAN
    )
