"""Quantity search parameters (FHIR R4 search, "quantity").

Each quantity is converted to canonical UCUM before indexing (``values.
canonical_quantity``: 70 kg and 70000 g are the same entry) into parallel
arrays: ``v`` value, ``u`` ``system|code``, ``c`` code (or unit text). A
search value ``[prefix]number|system|code`` is converted the same way and
then compared like a number, on the same array position as the unit. A
value searched without a unit is compared with the values as written
(``r``), since no conversion is implied.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fhir_server.search import number
from fhir_server.search.criteria import (
    RANK_RANGE,
    RANK_SCAN,
    RANK_TOKEN,
    Criterion,
    Entry,
    bad_value,
    entry_list,
    or_test,
    split_prefix,
)
from fhir_server.search.values import canonical_quantity, parse_decimal

# Index entry fields that deserve a database index: ``unit|value`` keys in canonical UCUM units.
INDEX_FIELDS: tuple[str, ...] = ("u",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = False


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    vs: list[float] = []
    raw: list[float] = []
    us: list[str] = []
    cs: list[str] = []
    for q in values:
        if not isinstance(q, dict) or not isinstance(q.get("value"), int | float | Decimal):
            continue
        value = Decimal(str(q["value"]))
        raw.append(float(value))
        code = q.get("code") or q.get("unit")
        value, system, code = canonical_quantity(value, q.get("system"), code)
        vs.append(float(value))
        us.append(f"{system or ''}|{code or ''}")
        cs.append(code or "")
    if not vs:
        return None
    return {"v": vs, "r": raw, "u": us, "c": cs, "s": min(vs)}


def _one(code: str, raw: str) -> Criterion:
    prefix, text = split_prefix(raw)
    parts = text.split("|")
    if len(parts) not in (1, 3):
        raise bad_value(code, raw, "expected [prefix]number[|system|code]")
    d = parse_decimal(parts[0])
    if d is None:
        raise bad_value(code, raw, "expected [prefix]number[|system|code]")
    system = parts[1] if len(parts) == 3 else ""
    unit = parts[2] if len(parts) == 3 else ""
    # Convert the number as written, keeping its precision: 70 kg -> 70000 g
    # with the implicit range of "70" scaled by the same factor.
    if unit:
        canonical, csystem, ccode = canonical_quantity(d, system or None, unit)
        factor = (
            canonical / d if d != 0 else canonical_quantity(Decimal(1), system or None, unit)[0]
        )
    else:
        canonical, csystem, ccode, factor = d, None, None, Decimal(1)
    test, rng, _ = number.value_test(prefix, d)
    scaled_rng = {op: float(Decimal(str(bound)) * factor) for op, bound in rng.items()}

    def value_ok(v: float) -> bool:
        return test(float(Decimal(str(v)) / factor))

    unit_key = f"{csystem}|{ccode}" if system else None
    code_key = ccode if unit and not system else None

    def unit_ok(i: int, e: Entry) -> bool:
        if unit_key is not None:
            return bool(entry_list(e, "u")[i] == unit_key)
        if code_key is not None:
            return bool(entry_list(e, "c")[i] == code_key)
        return True

    field = "v" if unit else "r"

    def entry_test(e: Entry) -> bool:
        vs = entry_list(e, field)
        hits = [value_ok(v) for v in vs]
        idx = range(len(vs))
        if prefix == "ne":
            return bool(vs) and all(h for i, h in zip(idx, hits, strict=True) if unit_ok(i, e))
        return any(h and unit_ok(i, e) for i, h in zip(idx, hits, strict=True))

    filt: dict[str, Any] = {}
    if unit_key is not None:
        filt["u"] = unit_key
    elif code_key is not None:
        filt["c"] = code_key
    if scaled_rng and prefix != "ne":
        filt[field] = scaled_rng
    if not filt:
        filt = {"": {"$exists": True}}
    rank = RANK_SCAN if prefix == "ne" else (RANK_TOKEN + 5 if unit else RANK_RANGE)
    return Criterion(filt, entry_test, exact=False, rank=rank)


def criterion(code: str, values: Sequence[str]) -> Criterion:
    parts = [_one(code, v) for v in values]
    if len(parts) == 1:
        return parts[0]
    return Criterion(
        {"": {"$exists": True}}, or_test([p.test for p in parts]), exact=False, rank=RANK_SCAN
    )
