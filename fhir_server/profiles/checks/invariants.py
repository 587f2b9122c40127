"""Constraint invariants, evaluated with the expression compiled at load time.

As the HL7 reference validator does, an invariant holds when its result
converts to ``true``: an empty result fails (see ``predicates`` for the
short-circuit evaluation of top-level ``implies``/``or``/``and``). An
expression fhirpathpy cannot evaluate is reported as information (an engine
limit must never block a write).
"""

from __future__ import annotations

import logging

from fhir_server.profiles import rules
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.functions import runner
from fhir_server.profiles.model import ElementRule

log = logging.getLogger(__name__)


def check(ctx: Context, rule: ElementRule, item: Item) -> None:
    if not rule.constraints:
        return
    focus = item.value if item.value is not None else item.ext
    run = None
    for inv in rule.constraints:
        if inv.predicate is None:
            continue
        if run is None:
            run = runner(focus, inv.base_path, ctx.root, ctx.root_resource)
        try:
            ok = inv.predicate.holds(run)
        except Exception as exc:  # fhirpathpy raises bare Exceptions
            log.debug("invariant %s failed to evaluate: %s", inv.key, exc)
            ctx.add(
                "information",
                "invariant",
                rules.INVARIANT_ERROR,
                f"Constraint {inv.key} could not be evaluated ({exc}); not checked",
                item.loc,
            )
            continue
        if not ok:
            ctx.add(
                inv.severity if inv.severity in ("error", "warning") else "error",
                "invariant",
                inv.key,
                f"Constraint failed: {inv.key}: {inv.human} (expression: {inv.expression})",
                item.loc,
            )
