"""Write hooks of the pathway engine (``resources.hooks.TypeHooks`` by shape).

* ``StepHooks`` (Task): every version of a pathway step, whether written by
  an operation, a PUT, a PATCH or a bundle entry, follows the transition
  table (``lifecycle``). When a person moves a step's date ("déplacer la
  date"), the later steps not started yet of the sections scheduled from it
  (the PlanDefinition's ``relatedAction``) move by the same number of working
  days, in the same transaction.
* ``PathwayHooks`` (CarePlan): deleting a whole pathway ("supprimer le
  parcours dans son entièreté") deletes its steps with it, in the same
  transaction; documents and observations stay in the patient's record.
* ``SummaryHooks`` (Task and CarePlan): every write of a step, and the
  creation or change of a pathway, recomputes the pathway's summary
  (``pathway.summary``: what the dashboard shows and filters on) and records
  it beside the CarePlan, in the same transaction (decision 0042).

Writes a hook makes go through the write pipeline (``ServerWriter``, given
by the composition root), so they are validated, versioned and audited like
any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.errors import BusinessRuleViolation
from fhir_server.ig import ImplementationGuide
from fhir_server.pathway.calendar import WorkingCalendar, subdivision_of
from fhir_server.pathway.lifecycle import TransitionTable, business_status
from fhir_server.pathway.plan import PathwayPlan
from fhir_server.pathway.records import PathwayRecords, scheduled, section_of
from fhir_server.pathway.summary import (
    SUMMARY_VERSION,
    PathwayModel,
    careplan_ids,
    relevant,
    summarise,
)
from fhir_server.resources.hooks import BaseHooks, WriteEvent
from fhir_server.security.principal import Principal
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

# (scope, type, id, new resource or None to delete, previous version) -> None
ServerWriter = Callable[
    [ReadScope, str, str, dict[str, Any] | None, StoredResource], Awaitable[None]
]
NOT_STARTED = ("to-do",)
SUMMARY_MARKER = "CarePlan-summaries"  # the generation counter set once all are derived
MSG_NOT_WORKING_DAY = "MRTC-PTH-005"


def careplan_id(task: dict[str, Any] | None) -> str | None:
    """The pathway a step belongs to (its first ``basedOn`` CarePlan)."""
    return next(iter(careplan_ids(task)), None)


async def pathway_calendar(
    records: PathwayRecords, careplan: dict[str, Any], scope: ReadScope
) -> WorkingCalendar:
    """The working days of a pathway, with the holidays of its structure's region."""
    author = ((careplan.get("author") or {}).get("reference")) or ""
    org = None
    if isinstance(author, str) and author.startswith("Organization/"):
        org = await records.read("Organization", author.partition("/")[2], scope)
    return WorkingCalendar.of_careplan(careplan, subdivision_of(org))


class StepHooks(BaseHooks):
    """Registered for Task (see module docstring)."""

    def __init__(
        self,
        table: TransitionTable,
        plan: PathwayPlan,
        records: PathwayRecords,
        writer: ServerWriter | None = None,
    ) -> None:
        self.table = table
        self.plan = plan
        self.records = records
        self.writer = writer

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        if event.resource is None:
            return
        before = event.previous.resource if event.previous is not None else None
        principal = getattr(event.actor, "principal", None)
        importing = principal is None or (isinstance(principal, Principal) and principal.is_system)
        self.table.check(before, event.resource, importing=importing)
        if before is None or principal is None:
            return  # the server's own moves never cascade (they are the cascade)
        old, new = scheduled(before), scheduled(event.resource)
        if old and new and old != new and business_status(event.resource) is not None:
            await self._check_working_day(event.resource, new, scope)
            await self._move_dependants(event.resource, old, new, scope)

    async def _check_working_day(self, task: dict[str, Any], day: str, scope: ReadScope) -> None:
        """A step moved by a person lands on a working day of its pathway ("jours ouvrés")."""
        plan_id = careplan_id(task)
        careplan = await self.records.read("CarePlan", plan_id, scope) if plan_id else None
        if careplan is None:
            return
        calendar = await pathway_calendar(self.records, careplan, scope)
        try:
            when = date.fromisoformat(day)
        except ValueError:
            return  # a dateTime with a time: the profile's date rules apply, not ours
        if calendar.is_working_day(when):
            return
        why = calendar.holiday_name(when) or "not one of the pathway's working days"
        raise BusinessRuleViolation(
            f"{day} is not a working day of this pathway ({why}); "
            f"the next working day is {calendar.next_working_day(when).isoformat()}",
            expression=("Task.restriction.period",),
            msg_id=MSG_NOT_WORKING_DAY,
        )

    async def _move_dependants(
        self, task: dict[str, Any], old: str, new: str, scope: ReadScope
    ) -> None:
        plan_id = careplan_id(task)
        if plan_id is None or self.writer is None:
            return
        careplan = await self.records.read("CarePlan", plan_id, scope)
        if careplan is None:
            return
        calendar = await pathway_calendar(self.records, careplan, scope)
        delta = calendar.working_days_between(date.fromisoformat(old), date.fromisoformat(new))
        if delta == 0:
            return
        dependants = self.plan.dependants(section_of(task))
        for stored in await self.records.steps(plan_id, scope):
            other = stored.resource or {}
            when = scheduled(other)
            if (
                stored.id == task.get("id")
                or section_of(other) not in dependants
                or business_status(other) not in NOT_STARTED
                or when is None
                or when < old
            ):
                continue
            moved = calendar.shift(date.fromisoformat(when), delta).isoformat()
            body = {k: v for k, v in other.items() if k != "meta"}
            body["meta"] = {k: v for k, v in (other.get("meta") or {}).items() if k == "profile"}
            restriction = dict(body.get("restriction") or {})
            restriction["period"] = {"start": moved, "end": moved}
            body["restriction"] = restriction
            await self.writer(scope, "Task", stored.id, body, stored)


class PathwayHooks(BaseHooks):
    """Registered for CarePlan (see module docstring)."""

    def __init__(self, records: PathwayRecords, writer: ServerWriter | None = None) -> None:
        self.records = records
        self.writer = writer

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        if event.resource is not None or self.writer is None:
            return
        for stored in await self.records.steps(event.id, scope):
            await self.writer(scope, "Task", stored.id, None, stored)


class SummaryHooks(BaseHooks):
    """Registered for Task and CarePlan (see module docstring and ``pathway.summary``)."""

    def __init__(
        self,
        repository: Repository,
        records: PathwayRecords,
        ig: ImplementationGuide,
        zone: ZoneInfo,
    ) -> None:
        self.repository = repository
        self.records = records
        self.ig = ig
        self.zone = zone
        self._models: dict[str, PathwayModel] = {}

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        if event.type == "CarePlan":
            # created, re-created or instantiating another template (a new version keeps its
            # summary otherwise: Repository.derive); a deleted pathway has none
            before = event.previous.resource if event.previous is not None else None
            if event.resource is not None and (
                before is None or self.template(before) != self.template(event.resource)
            ):
                await self.refresh([event.id], scope, event.resource)
            return
        before = event.previous.resource if event.previous is not None else None
        if relevant(before) == relevant(event.resource):
            return  # a note, an input, a business status the counts do not read
        plans = {*careplan_ids(before), *careplan_ids(event.resource)}
        await self.refresh(sorted(plans), scope)

    async def refresh(
        self, careplans: Iterable[str], scope: ReadScope, resource: dict[str, Any] | None = None
    ) -> None:
        """Recompute and record the summaries of these pathways from their stored steps."""
        for plan_id in careplans:
            careplan = resource or await self.records.read("CarePlan", plan_id, scope)
            if careplan is None:
                continue  # a step written before its pathway: the pathway's creation sums it
            steps = [s.resource for s in await self.records.steps(plan_id, scope) if s.resource]
            values, summary = summarise(steps, self.model(careplan), self.zone)
            await self.repository.derive("CarePlan", plan_id, values, summary, scope)

    async def rebuild_once(self) -> int:
        """At start: summarise the pathways stored before summaries of this version existed.

        Done once per database: a counter (``_generations``) records that every
        pathway got one, and from then on every write keeps them, so later
        starts do not scan the CarePlans again. Data loaded around the write
        pipeline afterwards needs ``rebuild``.
        """
        marker = f"{SUMMARY_MARKER}-v{SUMMARY_VERSION}"
        if (await self.repository.generations()).get(marker, 0) > 0:
            return 0
        done = await self.rebuild()
        await self.repository.ensure_generations([marker])

        async def mark(scope: ReadScope) -> None:
            await self.repository.bump_generation(marker, scope)

        await self.repository.transaction(mark, ReadScope())
        return done

    async def rebuild(self, batch: int = 200) -> int:
        """Summarise every pathway without a current summary; how many were.

        Data written before summaries existed, or loaded around the write
        pipeline, is summarised; a transaction per batch.
        """
        done = 0
        while ids := await self.repository.underived("CarePlan", SUMMARY_VERSION, batch):

            async def run(scope: ReadScope, ids: list[str] = ids) -> None:
                await self.refresh(ids, scope)

            await self.repository.transaction(run, ReadScope())
            done += len(ids)
        return done

    @staticmethod
    def template(careplan: dict[str, Any]) -> str:
        """The PlanDefinition a pathway instantiates (its url, without version)."""
        return str(next(iter(careplan.get("instantiatesCanonical") or []), "")).split("|")[0]

    def model(self, careplan: dict[str, Any]) -> PathwayModel:
        return self.model_of(self.template(careplan))

    def model_of(self, canonical: str) -> PathwayModel:
        """The template's sections and labels, read from the IG once per template."""
        key = canonical.split("|")[0]
        if key not in self._models:
            self._models[key] = PathwayModel.from_ig(self.ig, key)
        return self._models[key]
