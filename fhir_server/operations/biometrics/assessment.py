"""One measure judged for the child's age: the warning and the tag it earns.

Shared by the Observation hooks and the form hooks, so that a weight is
judged the same whether it arrives as an answer or as an Observation.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Issue
from fhir_server.operations.biometrics.codes import (
    FLAG_SYSTEM,
    FRENCH_NAMES,
    IMPLAUSIBLE,
    MSG_IMPLAUSIBLE,
)
from fhir_server.operations.biometrics.plausibility import PlausibleRanges

FLAG_DISPLAY = "Valeur inhabituelle pour l'âge — à vérifier"


def implausible(
    ranges: PlausibleRanges, code: str, value: float, age_years: float | None, where: str
) -> Issue | None:
    """A warning when ``value`` is outside the plausible range for the age, else None."""
    if age_years is None:
        return None
    band = ranges.implausible(code, value, age_years)
    if band is None:
        return None
    upto = f"{band.age_high:g}" if band.age_high is not None else "+"
    return Issue(
        "warning",
        "business-rule",
        f"{FRENCH_NAMES[code]} {value:g} {band.unit} is implausible for a child of "
        f"{age_years:.1f} years (expected {band.low:g} to {band.high:g} {band.unit} from "
        f"{band.age_low:g} to {upto} years): accepted and tagged {IMPLAUSIBLE}; check the entry",
        (where,),
        MSG_IMPLAUSIBLE,
    )


def set_flag(resource: dict[str, Any], flagged: bool) -> dict[str, Any]:
    """``resource`` with the ``implausible-for-age`` tag set or removed.

    Recomputed on every write: a corrected value clears the tag.
    """
    meta = dict(resource.get("meta") or {})
    tags = [
        t
        for t in meta.get("tag") or ()
        if not (t.get("system") == FLAG_SYSTEM and t.get("code") == IMPLAUSIBLE)
    ]
    if flagged:
        tags.append({"system": FLAG_SYSTEM, "code": IMPLAUSIBLE, "display": FLAG_DISPLAY})
    if tags:
        meta["tag"] = tags
    else:
        meta.pop("tag", None)
    out = dict(resource)
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out
