"""Type narrowing: allowed choice types and reference target types.

Target profiles are checked by resource type: a reference names
``Patient/123`` but the target's own conformance to an IG profile would need
a read of the target, which belongs to the write path, not to a
self-contained validator. Contained (``#id``) targets are resolved and also
checked against the IG target profiles; ``urn:uuid:`` references
(bundle-internal) are left to bundle processing.
"""

from __future__ import annotations

from typing import Any

from fhir_server.profiles import rules
from fhir_server.profiles.conformance import CORE_SD_PREFIX
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.model import ElementRule


def contained_target(ctx: Context, ref: str) -> dict[str, Any] | None:
    """The contained resource a ``#id`` reference points to, if any."""
    contained = ctx.root_resource.get("contained")
    for candidate in contained if isinstance(contained, list) else []:
        if isinstance(candidate, dict) and candidate.get("id") == ref[1:]:
            return candidate
    return None


def reference_type(ctx: Context, value: dict[str, Any]) -> str | None:
    """The resource type a Reference points to, when it can be told locally."""
    ref = value.get("reference")
    if isinstance(value.get("type"), str):
        return str(value["type"])
    if not isinstance(ref, str) or ref.startswith(("urn:", "?")):
        return None
    if ref.startswith("#"):
        target = contained_target(ctx, ref)
        kind = target.get("resourceType") if target else None
        return kind if isinstance(kind, str) else None
    parts = ref.split("?", 1)[0].split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2]
    return None


def check(ctx: Context, rule: ElementRule, item: Item) -> None:
    if not rule.type_restricted or not rule.types:
        return
    allowed = {t.code for t in rule.types}
    if rule.choice_prefix is not None and item.type_code and item.type_code not in allowed:
        ctx.add(
            "error",
            "structure",
            rules.TYPE_NOT_ALLOWED,
            f"{rule.path}: type {item.type_code} is not allowed here; allowed: "
            f"{', '.join(sorted(allowed))} [{rule.id}]",
            item.loc,
        )
        return
    value = item.value
    if not isinstance(value, dict) or ("reference" not in value and "type" not in value):
        return
    targets: set[str] = set()
    profiles: dict[str, list[str]] = {}  # target type -> the non-core profiles it must meet
    for t in rule.types:
        if t.code not in ("Reference", "canonical") or not t.target_profiles:
            continue
        for tp in t.target_profiles:
            rtype = ctx.source.resource_type_of_profile(tp)
            if rtype is not None:
                targets.add(rtype)
                if not tp.startswith(CORE_SD_PREFIX):
                    profiles.setdefault(rtype, []).append(tp)
    if not targets or "Resource" in targets or "DomainResource" in targets:
        return
    actual = reference_type(ctx, value)
    if actual is not None and actual not in targets:
        ctx.add(
            "error",
            "structure",
            rules.TARGET_NOT_ALLOWED,
            f"{rule.path}: a reference to {actual} is not allowed here; allowed targets: "
            f"{', '.join(sorted(targets))} [{rule.id}]",
            item.loc,
        )
        return
    ref = value.get("reference")
    wanted = profiles.get(actual or "")
    if wanted and isinstance(ref, str) and ref.startswith("#") and ctx.conforms is not None:
        target = contained_target(ctx, ref)
        if target is not None and not any(ctx.conforms(ctx, target, url) for url in wanted):
            ctx.add(
                "error",
                "structure",
                rules.TARGET_PROFILE,
                f"{rule.path}: the contained {actual} {ref} does not conform to "
                f"{' or '.join(wanted)} [{rule.id}]",
                item.loc,
            )
