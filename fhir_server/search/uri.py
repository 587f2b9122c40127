"""URI search parameters (FHIR R4 search, "uri").

URIs match exactly (case-sensitive). ``:below`` is a prefix range on the
stored URIs; ``:above`` is the ``$in`` of every ancestor path of the
searched URI, so both stay index lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.search.criteria import RANK_REFERENCE, RANK_STRING, Criterion, entry_list
from fhir_server.search.values import prefix_range

# Index entry fields that deserve a database index: the URI as written.
INDEX_FIELDS: tuple[str, ...] = ("v",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = True


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    uris = [v for v in values if isinstance(v, str) and v]
    if not uris:
        return None
    uris = list(dict.fromkeys(uris))
    return {"v": uris, "s": min(uris)}


def ancestors(uri: str) -> list[str]:
    """``http://a/b/c`` -> ``http://a/b/c``, ``http://a/b``, ``http://a`` (not the bare scheme)."""
    out = [uri]
    head, sep, _ = uri.rpartition("/")
    while sep and head and not head.endswith(("/", ":")):
        out.append(head)
        head, sep, _ = head.rpartition("/")
    return out


def criterion(code: str, modifier: str | None, values: Sequence[str]) -> Criterion:
    if modifier == "below":
        prefixes = list(values)
        test = lambda e: any(u.startswith(p) for u in entry_list(e, "v") for p in prefixes)  # noqa: E731
        if len(prefixes) == 1:
            return Criterion({"v": prefix_range(prefixes[0])}, test, exact=False, rank=RANK_STRING)
        return Criterion({"": {"$exists": True}}, test, exact=False, rank=RANK_STRING + 30)
    if modifier == "above":
        wanted = list(dict.fromkeys(a for v in values for a in ancestors(v)))
    else:
        wanted = list(dict.fromkeys(values))
    wanted_set = set(wanted)
    return Criterion(
        {"v": {"$in": wanted}},
        lambda e: any(u in wanted_set for u in entry_list(e, "v")),
        rank=RANK_REFERENCE,
    )
