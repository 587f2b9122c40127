"""SearchParameter resources written over REST become live search parameters.

A SearchParameter created or updated at runtime is checked before it is
stored (its FHIRPath expression is parsed strictly, so a typo is a 400 rather
than a parameter that silently indexes nothing), and starts serving once its
transaction has committed: new writes are indexed with it at once, existing
resources after ``$reindex``. A deleted or retired one stops serving at once;
one written in a transaction that aborts never starts. At start-up the stored
ones are registered again, after the base and IG definitions.

Other server processes on the same database follow: every SearchParameter
write bumps the ``SearchParameter`` generation counter in its transaction,
and each process re-reads the stored ones when it sees the counter move
(``interactions.shared_state``, ``sync_stored``).
"""

from __future__ import annotations

import logging
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.ig import content_hash
from fhir_server.resources.hooks import BaseHooks, Resource, WriteEvent
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.storage.repository import ReadScope, Repository

log = logging.getLogger(__name__)


GENERATION = "SearchParameter"  # the shared-state counter of stored SearchParameters


class SearchParameterHooks(BaseHooks):
    """Keeps the registry (and the database indexes) in step with stored SearchParameters."""

    def __init__(self, registry: SearchParameterRegistry, repository: Repository) -> None:
        self.registry = registry
        self.repository = repository
        self.runtime: dict[str, str] = {}  # url -> content hash of the stored ones registered

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        await self.repository.bump_generation(GENERATION, scope)

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
            self.runtime.pop(str(old_url), None)
        if serving and resource is not None:
            types = self.registry.add(resource)
            self.runtime[str(resource["url"])] = content_hash(resource)
            await self.repository.ensure_indexes(types)

    async def sync_stored(self) -> int:
        """Make the registry serve exactly the stored SearchParameters; how many changed.

        Registers the stored ones this process does not serve yet (or serves
        in an older form) and removes those no longer stored or now retired,
        whichever process wrote them.
        """
        stored: dict[str, dict[str, Any]] = {}
        for found in await self.repository.find(
            "SearchParameter", [], 100_000, ReadScope(), base_url=""
        ):
            resource = found.resource
            if resource and resource.get("status") != "retired" and resource.get("url"):
                stored[str(resource["url"])] = resource
        changed = 0
        for url in [u for u in self.runtime if u not in stored]:
            self.registry.remove(url)
            del self.runtime[url]
            changed += 1
        for url, resource in stored.items():
            digest = content_hash(resource)
            if self.runtime.get(url) == digest:
                continue
            try:
                self.registry.add(resource)
            except FhirError as exc:  # was valid when written; an engine change may refuse it
                log.warning(
                    "stored SearchParameter no longer usable",
                    extra={"id": resource.get("id"), "problem": exc.message},
                )
                continue
            self.runtime[url] = digest
            changed += 1
        return changed
