"""Cardinality: ``min`` and ``max`` of an element or of one slice."""

from __future__ import annotations

from fhir_server.profiles import rules
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.model import ElementRule


def check(ctx: Context, rule: ElementRule, items: list[Item], parent_loc: str) -> None:
    """Report too few (at the missing element's path) or too many occurrences."""
    count = len(items)
    what = f"slice '{rule.slice_name}' of {rule.path}" if rule.slice_name else rule.path
    if rule.min and count < rule.min:
        ctx.add(
            "error",
            "required",
            rules.MIN_CARDINALITY,
            f"{what}: minimum required = {rule.min}, but only found {count} [{rule.id}]",
            f"{parent_loc}.{rule.display_name}",
        )
    if rule.max is not None and count > rule.max:
        first_extra = items[rule.max]
        ctx.add(
            "error",
            "structure",
            rules.MAX_CARDINALITY,
            f"{what}: maximum allowed = {rule.max}, but found {count} [{rule.id}]",
            first_extra.loc,
        )
