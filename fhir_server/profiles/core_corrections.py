"""Corrected R4 core invariants: the one table of what is evaluated instead of the spec text.

Some constraints published in the R4 (4.0.1) StructureDefinitions are wrong
as written: they give an empty result where their human text means "does not
apply" (``ref-1`` on a Reference with only a ``display``), call FHIRPath
functions in ways a conformant engine must reject (``dom-3``'s ``as()`` on a
collection), name a type in the wrong case (``que-7``) or rely on a partial
regex match (``eld-19``). Both reference validators ship corrections:

* HL7's Java validator, ``FHIRPathExpressionFixer.fixExpr`` in
  hapifhir/org.hl7.fhir.core
  (org.hl7.fhir.validation/.../instance/utils/FHIRPathExpressionFixer.java);
* Firely's .NET validator, ``StructureDefinitionCorrectionsResolver`` in
  FirelyTeam/firely-validator-api
  (src/Firely.Fhir.Validation.Compilation.Shared/StructureDefinitionCorrectionsResolver.cs),
  plus its built-in validators for ``ele-1``, ``ext-1``, ``txt-1``, ``txt-2``
  (``FhirPathBuilder.getBuiltInValidatorFor``).

A correction applies only when the definition carries one of the published
texts listed here, exactly (as both validators match them), so an IG
constraint that reuses a key with its own expression is left alone. The
same table is rendered for people in ``docs/decisions/0010-core-invariants.md``;
a test keeps the two in step and checks every entry on a valid and an
invalid instance.

How a result converts to a verdict is decided once, in
``predicates.holds``: empty fails, as in both validators
(``FHIRPathEngine.convertToBoolean`` and ``CompiledExpression.IsTrue``).
"""

from __future__ import annotations

from dataclasses import dataclass

HL7 = "HL7 validator (org.hl7.fhir.core FHIRPathExpressionFixer)"
FIRELY = "Firely validator (firely-validator-api StructureDefinitionCorrectionsResolver)"
FIRELY_BUILTIN = "Firely validator (built-in validator instead of FHIRPath)"
R4B = "FHIR R4B/R5 definitions (the published correction)"


@dataclass(frozen=True)
class Correction:
    """One core constraint evaluated otherwise than its R4 text says.

    ``corrected`` is ``None`` for a constraint that is not evaluated as
    FHIRPath at all; ``published`` empty means "whatever the text".
    """

    key: str
    published: tuple[str, ...]
    corrected: str | None
    sources: tuple[str, ...]
    why: str

    def applies_to(self, expression: str) -> bool:
        return not self.published or expression in self.published


_REF1_R4 = (
    "reference.startsWith('#').not() or "
    "(reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))"
)
_DOM3_R4 = (
    "contained.where((('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() "
    "or descendants().where(as(canonical) = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()"
)
_DOM3_R4B = (
    "contained.where(((id.exists() and ('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url)))) or descendants().where(reference = '#').exists() "
    "or descendants().where(as(canonical) = '#').exists() or "
    "descendants().where(as(uri) = '#').exists()).not()).trace('unmatched', id).empty()"
)
_ELD19_PATTERN = (
    "[^\\\\s\\\\.,:;\\\\\\'\"\\\\/|?!@#$%&*()\\\\[\\\\]{}]{1,64}"
    "(\\\\.[^\\\\s\\\\.,:;\\\\\\'\"\\\\/|?!@#$%&*()\\\\[\\\\]{}]{1,64}"
    "(\\\\[x\\\\])?(\\\\:[^\\\\s\\\\.]+)?)*"
)

CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        "ref-1",
        (_REF1_R4,),
        "reference.exists() implies (reference = '#' or (" + _REF1_R4 + "))",
        (HL7, FIRELY),
        "empty when the Reference has no `reference` (only a display, identifier or "
        "extension, which ref-2 allows): the corrected form does not apply then, and "
        "accepts '#' (a contained resource pointing at its container)",
    ),
    Correction(
        "dom-3",
        (_DOM3_R4, _DOM3_R4B),
        "contained.where((('#'+id in (%resource.descendants().reference | "
        "%resource.descendants().ofType(canonical) | %resource.descendants().ofType(uri) | "
        "%resource.descendants().ofType(url))) or descendants().where(reference = '#').exists() "
        "or descendants().where(ofType(canonical) = '#').exists() or "
        "descendants().where(ofType(canonical) = '#').exists()).not()).trace('unmatched', id)"
        ".empty()",
        (R4B,),
        "`as()` on a collection is an error in FHIRPath, so no conformant engine can "
        "evaluate the R4 text; the `ofType()` form is the one later releases publish",
    ),
    Correction(
        "ras-2",
        ("probability is decimal implies (probability as decimal) <= 100",),
        "probability.empty() or ((probability is decimal) implies "
        "((probability as decimal) <= 100))",
        (HL7,),
        "empty (so failing) on a prediction without a probability",
    ),
    Correction(
        "que-7",
        ("operator = 'exists' implies (answer is Boolean)",),
        "operator = 'exists' implies (answer is boolean)",
        (FIRELY,),
        "`Boolean` names the FHIRPath system type; a FHIR `answerBoolean` is a "
        "`boolean`, so the R4 text fails every valid 'exists' condition",
    ),
    Correction(
        "que-12",
        ("enableWhen.count() > 2 implies enableBehavior.exists()",),
        "enableWhen.count() >= 2 implies enableBehavior.exists()",
        (HL7,),
        "the human text says 'more than one enableWhen'; the R4 expression checks more than two",
    ),
    Correction(
        "eld-19",
        ("path.matches('" + _ELD19_PATTERN + "')",),
        "path.matches('^" + _ELD19_PATTERN + "$')",
        (HL7, FIRELY),
        "`matches` tests the whole string only since FHIRPath N2; unanchored, the "
        "pattern (which ends in `*`) matches any path",
    ),
    Correction(
        "opd-3",
        ("targetProfile.exists() implies (type = 'Reference' or type = 'canonical')",),
        "targetProfile.exists() implies (type = 'Reference' or type = 'canonical' or "
        "type.memberOf('http://hl7.org/fhir/ValueSet/resource-types'))",
        (FIRELY,),
        "an operation parameter typed by a resource (`Patient`) may name a target profile",
    ),
    Correction(
        "bdl-8",
        ("fullUrl.contains('/_history/').not()",),
        "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
        (HL7, FIRELY),
        "empty on an entry without fullUrl (the 4.0.1 definitions shipped here "
        "already carry the corrected text)",
    ),
    Correction(
        "ele-1",
        (),
        None,
        (FIRELY_BUILTIN,),
        "'every element has a value or children' is a property of the JSON, checked "
        "by parsing; as FHIRPath it costs a walk of every element",
    ),
    Correction(
        "ext-1",
        (),
        None,
        (FIRELY_BUILTIN,),
        "'extension or value[x], not both' is checked by the structural parse of Extension",
    ),
    Correction(
        "txt-1",
        (),
        None,
        (FIRELY_BUILTIN,),
        "XHTML content rules (htmlChecks) need an XHTML checker, not FHIRPath; "
        "not checked by this server",
    ),
    Correction(
        "txt-2",
        (),
        None,
        (FIRELY_BUILTIN, HL7),
        "'narrative has non-whitespace content' needs an XHTML checker (HL7 maps it "
        "to its own htmlChecks2()); not checked by this server",
    ),
)

BY_KEY: dict[str, Correction] = {c.key: c for c in CORRECTIONS}
SKIPPED: frozenset[str] = frozenset(c.key for c in CORRECTIONS if c.corrected is None)


def corrected(key: str, expression: str) -> str | None:
    """The expression to evaluate for constraint ``key``; ``None``: do not evaluate it."""
    correction = BY_KEY.get(key)
    if correction is None or not correction.applies_to(expression):
        return expression
    return correction.corrected
