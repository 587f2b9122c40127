"""What one parameter type turns a search value into: a ``Criterion``.

A criterion has two faces. ``filter`` is a MongoDB filter over the
parameter's index entry (``idx.<code>``) built only from equality, ``$in``
and single ranges, so it rides an index on the embedded database's weak
planner. ``test`` is the exact predicate on the same entry, evaluated in
Python. When ``exact`` is true the filter alone is the answer; otherwise the
filter is a superset (an OR of ranges, a multi-valued date whose bounds
belong to different values, a wildcard) and ``test`` removes the extras.
Keeping both next to each other, in the module of the parameter type, is
what lets every type be tested against its own definition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import InvalidRequest

Entry = dict[str, Any] | None  # one parameter's index entry, None when the resource has no value
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

# Ranks order the clauses of the final filter: the embedded planner uses the
# index of the *first* clause that has one, so the most selective goes first.
RANK_ID = 0
RANK_REFERENCE = 10
RANK_EXACT = 15
RANK_STRING = 20
RANK_TOKEN = 30
RANK_RANGE = 50
RANK_SCAN = 95


@dataclass
class Criterion:
    """One search parameter's condition on its index entry (see module docstring)."""

    filter: dict[str, Any]  # keys relative to the entry; "" means the entry itself
    test: Callable[[Entry], bool]
    exact: bool = True
    rank: int = RANK_TOKEN


def split_prefix(value: str) -> tuple[str, str]:
    """``ge2010`` -> (``ge``, ``2010``); values without a prefix are ``eq``."""
    if len(value) > 2 and value[:2] in PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def entry_list(entry: Entry, key: str) -> list[Any]:
    if not entry:
        return []
    value = entry.get(key)
    return value if isinstance(value, list) else []


def missing_criterion(values: Sequence[str], code: str) -> Criterion:
    """``:missing=true|false``, the same for every parameter type."""
    if len(values) != 1 or values[0] not in ("true", "false"):
        raise InvalidRequest(
            f"Parameter '{code}:missing' takes true or false", msg_id="MRTC-SRCH-030"
        )
    missing = values[0] == "true"
    return Criterion(
        filter={"": {"$exists": not missing}},
        test=(lambda e: not e) if missing else (lambda e: bool(e)),
        rank=RANK_SCAN if missing else RANK_RANGE,
    )


def bad_value(code: str, value: str, expected: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value '{value}' for search parameter '{code}': {expected}", msg_id="MRTC-SRCH-031"
    )


def or_test(tests: Sequence[Callable[[Entry], bool]]) -> Callable[[Entry], bool]:
    if len(tests) == 1:
        return tests[0]
    return lambda e: any(t(e) for t in tests)
