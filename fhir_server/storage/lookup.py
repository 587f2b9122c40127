"""The server's own searches: facts a rule needs, whoever is asking.

Domain rules (who is habilitated, which consent is in force, which care circle
to join, whether a directory entry was copied before) must not depend on
what the caller may see, and they speak in search parameters, not in stored
fields. One place turns ``[("patient", "Patient/1"), ("status", "active")]``
into the parsed clauses and runs them unrestricted, in the caller's
transaction when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import parse_search
from fhir_server.settings import SearchSettings
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

MAX_LOOKUP = 10_000  # a rule that needs more than this asks the wrong question


class Lookup:
    """Runs ``Type?name=value&...`` for the server itself (see module docstring)."""

    def __init__(
        self, repository: Repository, registry: SearchParameterRegistry, settings: SearchSettings
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings

    async def find(
        self,
        type_: str,
        query: Sequence[tuple[str, str]],
        scope: ReadScope | None = None,
        limit: int = MAX_LOOKUP,
    ) -> list[StoredResource]:
        """What matches ``query``, unrestricted, within ``scope``'s transaction (if any)."""
        clauses = parse_search(
            self.registry, type_, query, settings=self.settings, strict=True
        ).clauses
        return await self.repository.find(
            type_, clauses, limit, (scope or ReadScope()).unrestricted(), base_url=""
        )
