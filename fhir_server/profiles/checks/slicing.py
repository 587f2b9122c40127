"""Slicing: assign each item to its slice, then check slice cardinality.

Supported discriminators: ``value`` and ``pattern`` (the slice's fixed or
pattern value at the discriminator path, or membership of a *required*
binding there), ``exists``, ``type`` and ``profile`` (the item conforms,
without error, to one of the type profiles at the path).
Items are assigned to the first slice they match, in definition order. With
``ordered`` slicing, items must follow the slices' order; with
``openAtEnd``, unmatched items must come after every matched one. An item
matching no slice is an error only when the slicing is ``closed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fhir_server.profiles import rules
from fhir_server.profiles.checks import cardinality
from fhir_server.profiles.checks.bindings import codings_of
from fhir_server.profiles.checks.values import equals, pattern_match
from fhir_server.profiles.compiler import split_path
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.model import ElementRule, SliceMatcher

_EXT_FN = re.compile(r"""^extension\(\s*['"](?P<url>[^'"]+)['"]\s*\)$""")
_OF_TYPE = re.compile(r"^ofType\((?P<t>[A-Za-z]+)\)$")


def navigate(value: Any, path: str) -> list[Any]:
    """Evaluate a simple discriminator path (dots, ``extension('url')``) on JSON."""
    current = [value]
    if path == "$this":
        return current
    for seg in split_path(path):
        nxt: list[Any] = []
        ext = _EXT_FN.match(seg)
        of_type = _OF_TYPE.match(seg)
        for item in current:
            if not isinstance(item, dict):
                continue
            if ext:
                nxt.extend(
                    e
                    for e in item.get("extension", [])
                    if isinstance(e, dict) and e.get("url") == ext.group("url")
                )
            elif of_type:
                nxt.append(item)
            elif seg in item:
                v = item[seg]
                nxt.extend(v if isinstance(v, list) else [v])
            elif seg == "value":  # a choice: value[x] under any type
                nxt.extend(v for k, v in item.items() if k.startswith("value") and k[5:6].isupper())
        current = nxt
    return current


def _one(kind: str, expected: Any, actual: Any) -> bool:
    return equals(expected, actual) if kind == "fixed" else pattern_match(expected, actual)


def matches(ctx: Context, matcher: SliceMatcher, item: Item) -> bool:
    """Whether the item satisfies every discriminator check of one slice."""
    for disc, kind, expected in matcher.checks:
        if kind == "type":
            if item.type_code not in expected and (
                not isinstance(item.value, dict) or item.value.get("resourceType") not in expected
            ):
                return False
            continue
        actuals = navigate(item.value, disc.path)
        if kind == "profile":
            conforms = ctx.conforms
            if conforms is None or not any(
                conforms(ctx, a, url) for a in actuals for url in expected
            ):
                return False
            continue
        if kind == "exists":
            if bool(actuals) != expected:
                return False
        elif kind == "binding":
            ok = False
            for actual in actuals:
                found = codings_of(actual)
                if found and any(
                    ctx.source.terminology.member(expected, s, c) for s, c in found[0]
                ):
                    ok = True
                    break
            if not ok:
                return False
        elif isinstance(expected, list):
            # Arrays are flattened by navigate(): each expected item needs a match.
            if not all(any(_one(kind, e, a) for a in actuals) for e in expected):
                return False
        elif not any(_one(kind, expected, a) for a in actuals):
            return False
    return True


def check(
    ctx: Context,
    rule: ElementRule,
    items: list[Item],
    parent_loc: str,
    check_item: Callable[[Context, ElementRule, Item], None],
) -> None:
    """Assign items to slices, report closed-slicing strays, check each slice."""
    if rule.slicing is None:
        return
    slices = [s for s in rule.slices if s.matcher is not None and s.matcher.usable]
    buckets: dict[int, list[Item]] = {id(s): [] for s in slices}
    position = {id(s): i for i, s in enumerate(slices)}
    last = -1  # position of the previous item's slice (len(slices) once unmatched seen)
    for item in items:
        hit = next((s for s in slices if s.matcher and matches(ctx, s.matcher, item)), None)
        if hit is not None:
            buckets[id(hit)].append(item)
            here = position[id(hit)]
            if last > here and (rule.slicing.ordered or last == len(slices)):
                why = (
                    "the slices are ordered"
                    if last < len(slices)
                    else "unmatched items must come last (openAtEnd)"
                )
                if rule.slicing.ordered or rule.slicing.rules == "openAtEnd":
                    ctx.add(
                        "error",
                        "structure",
                        rules.SLICE_ORDER,
                        f"{rule.path}: item for slice '{hit.slice_name}' is out of order: "
                        f"{why} [{rule.id}]",
                        item.loc,
                    )
            last = max(last, here)
        elif rule.slicing.rules == "openAtEnd":
            last = len(slices)
        elif rule.slicing.rules == "closed":
            names = ", ".join(str(s.slice_name) for s in rule.slices)
            ctx.add(
                "error",
                "structure",
                rules.CLOSED_SLICING,
                f"{rule.path}: this item matches none of the slices ({names}) and the "
                f"slicing is closed [{rule.id}]",
                item.loc,
            )
    for s in slices:
        matched = buckets[id(s)]
        cardinality.check(ctx, s, matched, parent_loc)
        for item in matched:
            check_item(ctx, s, item)
