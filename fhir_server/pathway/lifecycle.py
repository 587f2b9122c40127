"""The step lifecycle: one transition table, read from the IG.

The booklet lets a professional start a step, save a form without closing it,
close it ("Réalisé"), set a task "Traité" then "validée", edit it, move it,
cancel it, unschedule it, or tag it "Non-honorée". Which business status
(``Task.businessStatus``, the IG's ``mrtc-task-business-status`` CodeSystem)
may follow which is that CodeSystem's data: the ``next`` property lists the
statuses a step may move to, ``initial`` the statuses it may be created with,
``final`` the statuses it never leaves, and ``taskStatus`` the FHIR
``Task.status`` each one implies. Staying in a status (saving a form, moving a
date) is always allowed except from a final status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import BusinessRuleViolation
from fhir_server.ig import ImplementationGuide

STATUS_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-business-status"
MSG_TRANSITION = "MRTC-PTH-001"
MSG_INITIAL = "MRTC-PTH-002"
MSG_TASK_STATUS = "MRTC-PTH-003"
MSG_DROPPED = "MRTC-PTH-004"


@dataclass(frozen=True)
class StatusRule:
    code: str
    display: str
    task_status: str
    next: tuple[str, ...]
    initial: bool
    final: bool


def business_status(task: Mapping[str, Any] | None) -> str | None:
    """The step's MRTC business status code, or None for a Task outside the pathway."""
    for c in ((task or {}).get("businessStatus") or {}).get("coding") or []:
        if isinstance(c, dict) and c.get("system") == STATUS_SYSTEM:
            return str(c.get("code"))
    return None


class TransitionTable:
    """The CodeSystem's rules by status code."""

    def __init__(self, rules: Mapping[str, StatusRule]) -> None:
        self.rules = dict(rules)

    @classmethod
    def from_ig(cls, ig: ImplementationGuide) -> TransitionTable:
        cs = ig.by_url().get(STATUS_SYSTEM)
        if cs is None:
            raise ValueError(f"the IG has no CodeSystem {STATUS_SYSTEM}")
        rules: dict[str, StatusRule] = {}
        for concept in cs.get("concept") or []:
            props = concept.get("property") or []

            def values(name: str, key: str, props: list[Any] = props) -> list[Any]:
                return [p.get(key) for p in props if p.get("code") == name]

            rules[str(concept["code"])] = StatusRule(
                str(concept["code"]),
                str(concept.get("display") or concept["code"]),
                str(next(iter(values("taskStatus", "valueCode")), "")),
                tuple(str(v) for v in values("next", "valueCode")),
                bool(next(iter(values("initial", "valueBoolean")), False)),
                bool(next(iter(values("final", "valueBoolean")), False)),
            )
        return cls(rules)

    def coding(self, code: str) -> dict[str, str]:
        rule = self.rules[code]
        return {"system": STATUS_SYSTEM, "code": code, "display": rule.display}

    def allowed_after(self, code: str) -> list[str]:
        rule = self.rules.get(code)
        if rule is None:
            return []
        return list(rule.next) if rule.final else [code, *rule.next]

    def may_move(self, before: str, after: str) -> bool:
        return after in self.allowed_after(before)

    def check(
        self, before: Mapping[str, Any] | None, after: Mapping[str, Any], *, importing: bool = False
    ) -> None:
        """Refuse a Task version whose business status breaks the table (422, naming why).

        ``importing``: a trusted system (a regional platform, an EHR) may create a
        step in any status, as it brings a pathway's history from elsewhere; its
        later changes follow the table like anyone's.
        """
        new = business_status(after)
        old = business_status(before) if before is not None else None
        if new is None:
            if old is not None:
                raise BusinessRuleViolation(
                    f"This pathway step has the business status '{old}'; a new version must "
                    f"keep a businessStatus from {STATUS_SYSTEM}",
                    expression=("Task.businessStatus",),
                    msg_id=MSG_DROPPED,
                )
            return
        rule = self.rules.get(new)
        if rule is None:
            return  # an unknown code: the profile's required binding reports it
        if rule.task_status and after.get("status") != rule.task_status:
            raise BusinessRuleViolation(
                f"A step with business status '{new}' ({rule.display}) has Task.status "
                f"'{rule.task_status}', not '{after.get('status')}'",
                expression=("Task.status",),
                msg_id=MSG_TASK_STATUS,
            )
        if old is None:
            if before is None and not rule.initial and not importing:
                starts = [r.code for r in self.rules.values() if r.initial]
                raise BusinessRuleViolation(
                    f"A pathway step cannot be created with business status '{new}'; "
                    f"allowed: {', '.join(starts)}",
                    expression=("Task.businessStatus",),
                    msg_id=MSG_INITIAL,
                )
            return
        if not self.may_move(old, new):
            allowed = self.allowed_after(old)
            raise BusinessRuleViolation(
                f"A step cannot go from '{old}' to '{new}'; from '{old}' it may go to: "
                f"{', '.join(allowed) if allowed else 'nothing (final status)'}",
                expression=("Task.businessStatus",),
                msg_id=MSG_TRANSITION,
            )
