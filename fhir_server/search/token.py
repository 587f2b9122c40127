"""Token search parameters (FHIR R4 search, "token").

Every coded value is indexed as up to three strings in one multikey array
``v``: ``system|code``, ``|code`` when the value has no system, and the bare
``code``. Each search form is then one equality (``code``, ``system|code``,
``|code``) or one prefix range (``system|``), which the embedded planner
serves from the index. ``:text`` searches the normalised display texts
(``t``), ``:of-type`` the identifier type + value triples (``ot``), ``:not``
is the complement (resources without any value included, as the spec says).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.errors import UnsupportedParameter
from fhir_server.search.criteria import (
    RANK_REFERENCE,
    RANK_SCAN,
    RANK_TOKEN,
    Criterion,
    bad_value,
    entry_list,
)
from fhir_server.search.values import norm_string, prefix_range

# Index entry fields that deserve a database index:
# one multikey array of ``system|code``, ``|code`` and ``code``.
INDEX_FIELDS: tuple[str, ...] = ("v",)
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = True


def _add(tokens: list[str], system: Any, code: Any) -> None:
    if code is None or code == "":
        return
    code = str(code).lower() if isinstance(code, bool) else str(code)
    if system:
        tokens.append(f"{system}|{code}")
    else:
        tokens.append(f"|{code}")
    tokens.append(code)


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    """Index entry: ``v`` tokens, ``t`` texts, ``ot`` identifier-type triples, ``s`` sort key."""
    tokens: list[str] = []
    texts: list[str] = []
    of_type: list[str] = []
    for value in values:
        if isinstance(value, bool | int | float | str):
            _add(tokens, None, value)
        elif isinstance(value, dict):
            if "coding" in value or ("text" in value and "system" not in value):
                for coding in value.get("coding", []) or []:
                    _add(tokens, coding.get("system"), coding.get("code"))
                    if coding.get("display"):
                        texts.append(coding["display"])
                if value.get("text"):
                    texts.append(value["text"])
            elif "code" in value:  # Coding (or Quantity used as a token)
                _add(tokens, value.get("system"), value.get("code"))
                if value.get("display"):
                    texts.append(value["display"])
            elif "value" in value:  # Identifier, ContactPoint
                _add(tokens, value.get("system"), value.get("value"))
                id_type = value.get("type")
                if isinstance(id_type, dict):
                    if id_type.get("text"):
                        texts.append(id_type["text"])
                    for coding in id_type.get("coding", []) or []:
                        if coding.get("code") is not None:
                            of_type.append(
                                f"{coding.get('system', '')}|{coding['code']}|{value['value']}"
                            )
    if not tokens and not texts:
        return None
    entry: dict[str, Any] = {"v": list(dict.fromkeys(tokens))}
    if texts:
        entry["t"] = list(dict.fromkeys(norm_string(t) for t in texts))
    if of_type:
        entry["ot"] = of_type
    codes = [t for t in tokens if "|" not in t]
    entry["s"] = codes[0] if codes else (tokens[0] if tokens else entry["t"][0])
    return entry


def _search_key(value: str) -> tuple[str, bool]:
    """(key, is_system_prefix): ``http://x|`` searches every code of a system."""
    if "|" in value:
        system, _, code = value.partition("|")
        if code == "":
            if not system:
                raise bad_value("token", value, "a code or system is required")
            return f"{system}|", True
        return value if system else f"|{code}", False
    return value, False


def criterion(
    code: str, modifier: str | None, values: Sequence[str], identifier_like: bool = False
) -> Criterion:
    rank = RANK_REFERENCE if identifier_like else RANK_TOKEN
    if modifier == "text":
        texts = [norm_string(v) for v in values]
        return Criterion(
            {"": {"$exists": True}} if len(texts) > 1 else {"t": prefix_range(texts[0])},
            lambda e: any(t.startswith(p) for t in entry_list(e, "t") for p in texts),
            exact=False,
            rank=RANK_TOKEN + 10,
        )
    if modifier == "of-type":
        triples = []
        for v in values:
            parts = v.split("|")
            if len(parts) != 3 or not parts[1] or not parts[2]:
                raise bad_value(code, v, "':of-type' takes system|code|value")
            triples.append(v)
        wanted = set(triples)
        return Criterion(
            {"ot": {"$in": triples}},
            lambda e: any(t in wanted for t in entry_list(e, "ot")),
            rank=rank,
        )
    if modifier not in (None, "not"):
        raise UnsupportedParameter(
            f"Modifier ':{modifier}' is not supported on token parameter '{code}'",
            msg_id="MRTC-SRCH-033",
        )
    keys = [_search_key(v) for v in values]
    exact_keys = [k for k, is_prefix in keys if not is_prefix]
    prefix_keys = [k for k, is_prefix in keys if is_prefix]
    wanted = set(exact_keys)

    def test(entry: Any) -> bool:
        tokens = entry_list(entry, "v")
        return any(t in wanted for t in tokens) or any(
            t.startswith(p) for t in tokens for p in prefix_keys
        )

    if modifier == "not":
        if prefix_keys:
            return Criterion({}, lambda e: not test(e), exact=False, rank=RANK_SCAN)
        return Criterion({"v": {"$nin": exact_keys}}, lambda e: not test(e), rank=RANK_SCAN)
    if not prefix_keys:
        return Criterion(
            {"v": {"$in": exact_keys}} if len(exact_keys) > 1 else {"v": exact_keys[0]},
            test,
            rank=rank,
        )
    if not exact_keys and len(prefix_keys) == 1:
        return Criterion({"v": prefix_range(prefix_keys[0])}, test, exact=False, rank=rank + 5)
    return Criterion({"": {"$exists": True}}, test, exact=False, rank=RANK_SCAN)
