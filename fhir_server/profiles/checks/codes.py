"""Codings against the code systems this server holds, binding or not.

A Coding whose ``system`` is a complete local code system (the IG's, or a
core one shipped in ``fhir_server/data``) must use a code defined there - a
typo in an MRTC step or document-category code is an error even where no
binding applies. A display that matches neither the concept's display nor
one of its designations is a warning, as in the HL7 validator. Codes of
systems we do not hold (LOINC, SNOMED CT, the French national terminologies)
are not judged.
"""

from __future__ import annotations

from fhir_server.profiles import rules
from fhir_server.profiles.context import Context, Item


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def check(ctx: Context, item: Item) -> None:
    coding = item.value
    if not isinstance(coding, dict):
        return
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(system, str) or not isinstance(code, str):
        return
    cs = ctx.source.terminology.code_system(system)
    if cs is None or not cs.complete:
        return
    concept = cs.get(code)
    if concept is None:
        ctx.add(
            "error",
            "code-invalid",
            rules.UNKNOWN_CODE,
            f"Unknown code '{code}' in CodeSystem {system}",
            item.loc,
        )
        return
    display = coding.get("display")
    if not isinstance(display, str) or concept.display is None:
        return
    allowed = {_norm(concept.display)} | {
        _norm(d["value"]) for d in concept.designations if isinstance(d.get("value"), str)
    }
    if _norm(display) not in allowed:
        ctx.add(
            "warning",
            "code-invalid",
            rules.WRONG_DISPLAY,
            f"Display '{display}' for {system}#{code} should be '{concept.display}'",
            item.loc,
        )
