"""Constraint invariants, evaluated with the expression compiled at load time.

As the HL7 reference validator does, an expression must evaluate to exactly
``true``; an empty result fails. An expression fhirpathpy cannot evaluate is
reported as a warning (it never blocks a write on the engine's limits).
"""

from __future__ import annotations

import logging

from fhir_server.profiles import rules
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.fhirpath import evaluate
from fhir_server.profiles.model import ElementRule

log = logging.getLogger(__name__)


def check(ctx: Context, rule: ElementRule, item: Item) -> None:
    if not rule.constraints:
        return
    focus = item.value if item.value is not None else item.ext
    for inv in rule.constraints:
        if inv.evaluate is None:
            continue
        try:
            result = evaluate(inv.evaluate, focus, inv.base_path, ctx.root)
        except Exception as exc:  # fhirpathpy raises bare Exceptions
            log.debug("invariant %s failed to evaluate: %s", inv.key, exc)
            ctx.add(
                "warning",
                "invariant",
                rules.INVARIANT_ERROR,
                f"Constraint {inv.key} could not be evaluated ({exc}); not checked",
                item.loc,
            )
            continue
        if result != [True]:
            ctx.add(
                inv.severity if inv.severity in ("error", "warning") else "error",
                "invariant",
                inv.key,
                f"Constraint failed: {inv.key}: {inv.human} (expression: {inv.expression})",
                item.loc,
            )
