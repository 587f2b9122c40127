"""Terminology bindings, decided by local expansion.

``required``: a code outside the value set is an error (a CodeableConcept
needs at least one coding from it). ``extensible``: kept simple - a warning
when a CodeableConcept has codings and none is in the value set (text-only
is allowed, as the spec permits when no code fits). A membership the local
terminology cannot decide (an external code system such as LOINC included
wholesale) yields no issue: the server must not reject what it cannot judge.
"""

from __future__ import annotations

from fhir_server.profiles import rules
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.model import ElementRule


def codings_of(value: object) -> tuple[list[tuple[str | None, str]], bool] | None:
    """The (system, code) pairs a bound value carries, and whether it is a CodeableConcept."""
    if isinstance(value, str):
        return [(None, value)], False
    if not isinstance(value, dict):
        return None
    if "coding" in value or ("text" in value and "code" not in value):
        codings = value.get("coding")
        return [
            (_system(c), c["code"])
            for c in (codings if isinstance(codings, list) else [])
            if isinstance(c, dict) and isinstance(c.get("code"), str)
        ], True
    if isinstance(value.get("code"), str):
        return [(_system(value), value["code"])], False
    return None


def _system(coding: dict[str, object]) -> str | None:
    system = coding.get("system")
    return system if isinstance(system, str) else None


def check(ctx: Context, rule: ElementRule, item: Item) -> None:
    binding = rule.binding
    if binding is None:
        return
    found = codings_of(item.value)
    if found is None:
        return
    codings, concept = found
    required = binding.strength == "required"
    if not codings:
        if concept and required:
            ctx.add(
                "error",
                "code-invalid",
                rules.REQUIRED_BINDING,
                f"{rule.path}: no coding from the required value set {binding.value_set}"
                f" [{rule.id}]",
                item.loc,
            )
        return
    results = [ctx.source.terminology.member(binding.value_set, s, c) for s, c in codings]
    if any(r is True for r in results) or any(r is None for r in results):
        return
    shown = ", ".join(f"{s}#{c}" if s else c for s, c in codings)
    ctx.add(
        "error" if required else "warning",
        "code-invalid",
        rules.REQUIRED_BINDING if required else rules.EXTENSIBLE_BINDING,
        f"{rule.path}: {shown} is not in the {binding.strength} value set "
        f"{binding.value_set} [{rule.id}]",
        item.loc,
    )
