"""The pathway engine as the operations use it, and its wiring into the write hooks.

One ``PathwayEngine`` per loaded implementation guide: the PlanDefinition
(``pathway.plan``), the transition table (``pathway.lifecycle``) and the
record reads (``pathway.records``). ``register`` is called once by the
composition root: it installs the Task and CarePlan hooks, and gives them a
writer that stores through the write pipeline (validation, hooks, audit)
inside the transaction of the write that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.errors import Unauthorized
from fhir_server.ig import ImplementationGuide
from fhir_server.interactions.context import Context
from fhir_server.interactions.services import Services
from fhir_server.interactions.write import prepare, store
from fhir_server.pathway.hooks import PathwayHooks, StepHooks, SummaryHooks
from fhir_server.pathway.lifecycle import TransitionTable
from fhir_server.pathway.plan import PathwayPlan
from fhir_server.pathway.records import PathwayRecords
from fhir_server.resources.hooks import WriteHooks
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.security.principal import Principal
from fhir_server.settings import Settings
from fhir_server.storage.repository import ReadScope, Repository, StoredResource


@dataclass(frozen=True)
class PathwayEngine:
    plan: PathwayPlan
    table: TransitionTable
    records: PathwayRecords
    summaries: SummaryHooks


_ENGINES: dict[int, tuple[ImplementationGuide, PathwayEngine]] = {}


def build(
    ig: ImplementationGuide,
    repository: Repository,
    registry: SearchParameterRegistry,
    settings: Settings,
) -> PathwayEngine:
    records = PathwayRecords(repository, registry, settings.search)
    built = PathwayEngine(
        PathwayPlan.from_ig(ig),
        TransitionTable.from_ig(ig),
        records,
        SummaryHooks(repository, records, ig, ZoneInfo(settings.time_zone)),
    )
    _ENGINES[id(ig)] = (ig, built)
    return built


def engine(ctx: Context) -> PathwayEngine:
    """The engine of the server handling ``ctx`` (built by ``register`` at start)."""
    services = ctx.services
    found = _ENGINES.get(id(services.ig))
    if found is not None and found[0] is services.ig:
        return found[1]
    return build(services.ig, services.repository, services.search_params, services.settings)


def principal_of(ctx: Context) -> Principal | None:
    """The caller as the pathway rules see it (None: the server itself)."""
    if ctx.principal is None:
        return None
    if not isinstance(ctx.principal, Principal):
        raise Unauthorized("This operation needs an authenticated caller", msg_id="MRTC-PTH-090")
    return ctx.principal


def register(
    hooks: WriteHooks,
    ig: ImplementationGuide,
    repository: Repository,
    registry: SearchParameterRegistry,
    settings: Settings,
    services: Callable[[], Services],
) -> PathwayEngine:
    """Install the pathway's write hooks; ``services`` yields the Services once built."""
    built = build(ig, repository, registry, settings)

    async def write_as_server(
        scope: ReadScope,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        previous: StoredResource,
    ) -> None:
        ctx = Context(services(), settings.base_url.rstrip("/"), scope.unrestricted(), None)
        ctx = ctx.within(scope.unrestricted(), [])  # after-commit actions of cascades: none
        if resource is not None:
            resource = await prepare(ctx, type_, resource)
        await store(
            ctx,
            type_,
            id_,
            resource,
            previous=previous,
            method="PUT" if resource is not None else "DELETE",
        )

    hooks.register("Task", StepHooks(built.table, built.plan, built.records, write_as_server))
    hooks.register("CarePlan", PathwayHooks(built.records, write_as_server))
    hooks.register("Task", built.summaries)
    hooks.register("CarePlan", built.summaries)
    return built
