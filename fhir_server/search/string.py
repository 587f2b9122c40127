"""String search parameters (FHIR R4 search, "string").

Default match is starts-with, case- and accent-insensitive, on the
normalised form (``values.norm_string``). ``:exact`` compares the stored
text as written; ``:contains`` matches anywhere (a scan, off the hot path);
``:wildcard`` is the booklet's directory search, where ``%`` stands for any
run of characters (``T%se`` finds Thérèse). Wildcards are matched by a
linear greedy scan, never by a regular expression, so no input can make the
match backtrack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.errors import InvalidRequest
from fhir_server.search.criteria import (
    RANK_EXACT,
    RANK_SCAN,
    RANK_STRING,
    Criterion,
    entry_list,
)
from fhir_server.search.values import MAX_STRING, norm_string, prefix_range

# Index entry fields that deserve a database index:
# the normalised text: prefix ranges and equality.
INDEX_FIELDS: tuple[str, ...] = ("n",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = False

_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


def _texts(value: Any, out: list[str], depth: int = 0) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict) and depth < 4:
        keys = (
            _NAME_PARTS
            if "family" in value or "given" in value
            else (
                _ADDRESS_PARTS
                if "city" in value or "line" in value or "postalCode" in value
                else tuple(k for k in value if k not in ("extension", "id", "use", "system"))
            )
        )
        for k in keys:
            v = value.get(k)
            for item in v if isinstance(v, list) else [v]:
                _texts(item, out, depth + 1)


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    """Index entry: ``n`` normalised forms, ``x`` exact forms, ``s`` sort key."""
    raw: list[str] = []
    for v in values:
        _texts(v, raw)
    exact = list(dict.fromkeys(s for s in raw if s.strip()))
    if not exact:
        return None
    normal = list(dict.fromkeys(norm_string(s) for s in exact))
    return {"n": normal, "x": exact, "s": min(normal)}


def criterion(
    code: str, modifier: str | None, values: Sequence[str], max_wildcards: int = 4
) -> Criterion:
    if modifier == "exact":
        wanted = set(values)
        return Criterion(
            {"x": {"$in": list(values)}},
            lambda e: any(x in wanted for x in entry_list(e, "x")),
            rank=RANK_EXACT,
        )
    if modifier == "contains":
        needles = [norm_string(v) for v in values]
        return Criterion(
            {"": {"$exists": True}},
            lambda e: any(n in s for s in entry_list(e, "n") for n in needles),
            exact=False,
            rank=RANK_SCAN,
        )
    if modifier == "wildcard":
        patterns = [_wildcard_pieces(code, v, max_wildcards) for v in values]
        prefixes = [p[0] for p in patterns]
        return Criterion(
            _prefixes_filter(prefixes),
            lambda e: any(glob_match(p, s) for s in entry_list(e, "n") for p in patterns),
            exact=False,
            rank=_string_rank(prefixes),
        )
    prefixes = [norm_string(v) for v in values]
    return Criterion(
        _prefixes_filter(prefixes),
        lambda e: any(s.startswith(p) for s in entry_list(e, "n") for p in prefixes),
        exact=False,  # a two-bound range on a multikey array may pair two values
        rank=_string_rank(prefixes),
    )


def _prefixes_filter(prefixes: Sequence[str]) -> dict[str, Any]:
    """One range covering every prefix (the envelope when several are OR-ed)."""
    low = min(prefixes)
    if not low:
        return {"": {"$exists": True}}
    if len(prefixes) == 1:
        return {"n": prefix_range(low)}
    return {"n": {"$gte": low, "$lt": max(prefixes) + MAX_STRING}}


def _string_rank(prefixes: Sequence[str]) -> int:
    shortest = min(len(p) for p in prefixes)
    return RANK_SCAN if shortest == 0 else RANK_STRING + max(0, 4 - shortest) * 5


def _wildcard_pieces(code: str, value: str, max_wildcards: int) -> list[str]:
    if value.count("%") > max_wildcards:
        raise InvalidRequest(
            f"Parameter '{code}:wildcard' allows at most {max_wildcards} '%' wildcards",
            msg_id="MRTC-SRCH-032",
        )
    return [norm_string(piece) if piece.strip() else "" for piece in value.split("%")]


def glob_match(pieces: Sequence[str], text: str) -> bool:
    """Does ``text`` start with pieces[0] and then contain the other pieces in order?

    Greedy leftmost search is exact for a pattern whose only wildcard is
    "any run" and whose end is open (starts-with semantics), and it is linear
    in ``len(text) * len(pieces)``: no backtracking to exploit.
    """
    if not text.startswith(pieces[0]):
        return False
    pos = len(pieces[0])
    for piece in pieces[1:]:
        found = text.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
