"""SearchParameter resources written over REST become live search parameters.

A SearchParameter created or updated at runtime is checked before it is
stored (its FHIRPath expression is parsed strictly, so a typo is a 400 rather
than a parameter that silently indexes nothing), and starts serving once its
transaction has committed: new writes are indexed with it at once, existing
resources after ``$reindex``. A deleted or retired one stops serving at once;
one written in a transaction that aborts never starts. At start-up the stored
ones are registered again, after the base and IG definitions.
"""

from __future__ import annotations

import logging

from fhir_server.errors import FhirError
from fhir_server.resources.hooks import BaseHooks, Resource, WriteEvent
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.storage.repository import ReadScope, Repository

log = logging.getLogger(__name__)


class SearchParameterHooks(BaseHooks):
    """Keeps the registry (and the database indexes) in step with stored SearchParameters."""

    def __init__(self, registry: SearchParameterRegistry, repository: Repository) -> None:
        self.registry = registry
        self.repository = repository

    async def normalise(self, resource: Resource) -> Resource:
        if resource.get("status") != "retired":
            self.registry.check(resource)  # 400 on a definition search cannot use
        return resource

    async def after_commit(self, event: WriteEvent) -> None:
        previous = event.previous.resource if event.previous is not None else None
        old_url = previous.get("url") if previous else None
        resource = event.resource
        serving = resource is not None and resource.get("status") != "retired"
        if old_url and (not serving or (resource or {}).get("url") != old_url):
            self.registry.remove(str(old_url))
        if serving and resource is not None:
            types = self.registry.add(resource)
            await self.repository.ensure_indexes(types)


async def load_stored(registry: SearchParameterRegistry, repository: Repository) -> int:
    """Register the SearchParameters stored in the database (runtime-created ones)."""
    n = 0
    for stored in await repository.find("SearchParameter", [], 100_000, ReadScope(), base_url=""):
        resource = stored.resource
        if resource and resource.get("status") != "retired":
            try:
                registry.add(resource)
                n += 1
            except FhirError as exc:  # was valid when written; an engine change may refuse it now
                log.warning(
                    "stored SearchParameter no longer usable",
                    extra={"id": stored.id, "problem": exc.message},
                )
    return n
