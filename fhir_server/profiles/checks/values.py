"""Fixed and pattern values (``fixed[x]``, ``pattern[x]``).

``fixed`` demands exact equality; ``pattern`` demands that the instance
contain every property of the pattern, recursively, where each item of a
pattern array must be matched by some item of the instance array - the R4
definition of pattern matching, which slice discriminators reuse.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.profiles import rules
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.model import ElementRule


def equals(expected: Any, actual: Any) -> bool:
    """JSON equality where 1 == 1.0 (decimals may be written either way)."""
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(equals(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(equals(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def pattern_match(pattern: Any, actual: Any) -> bool:
    """Whether ``actual`` contains ``pattern`` (FHIR pattern[x] semantics)."""
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            return False
        return all(k in actual and pattern_match(v, actual[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = actual if isinstance(actual, list) else [actual]
        return all(any(pattern_match(p, a) for a in items) for p in pattern)
    if isinstance(pattern, bool) or isinstance(actual, bool):
        return pattern is actual
    return bool(pattern == actual)


def show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return repr(value)[:200]


def check(ctx: Context, rule: ElementRule, item: Item) -> None:
    if rule.fixed is None:
        return
    if rule.fixed_kind == "fixed":
        if not equals(rule.fixed, item.value):
            ctx.add(
                "error",
                "value",
                rules.FIXED_VALUE,
                f"{rule.path}: value must be exactly {show(rule.fixed)}, "
                f"found {show(item.value)} [{rule.id}]",
                item.loc,
            )
    elif not pattern_match(rule.fixed, item.value):
        ctx.add(
            "error",
            "value",
            rules.PATTERN_VALUE,
            f"{rule.path}: value must match pattern {show(rule.fixed)}, "
            f"found {show(item.value)} [{rule.id}]",
            item.loc,
        )
