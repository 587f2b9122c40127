"""The long-lived collaborators of a running server, built once by the lifespan.

Routes and interactions reach them through ``Context.services``; nothing
creates a database client or registry per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.operations.registry import OperationRegistry
from fhir_server.resources.hooks import WriteHooks
from fhir_server.security.policy import AccessPolicy, OpenPolicy
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoRepository


@dataclass
class Services:
    settings: Settings
    client: AsyncMongoClient[Any]
    db: AsyncDatabase[Any]
    repository: MongoRepository
    search_params: Any  # fhir_server.search.registry.SearchParameterRegistry
    hooks: WriteHooks = field(default_factory=WriteHooks)
    operations: OperationRegistry = field(default_factory=OperationRegistry)
    policy: AccessPolicy = field(default_factory=OpenPolicy)
    profiles: Any = None  # fhir_server.profiles.service.ProfileServices (check_write -> 422)
    ig_profiles: dict[str, list[str]] = field(default_factory=dict)  # type -> profile URLs
    ig_urls: list[str] = field(default_factory=list)  # ImplementationGuide canonical URLs
    read_only: set[tuple[str, str]] = field(default_factory=set)  # (type, id) of IG resources
    ig: Any = None  # fhir_server.resources.conformance.ImplementationGuide

    def supported_profiles(self, type_: str) -> list[str]:
        return self.ig_profiles.get(type_, [])

    def implementation_guides(self) -> list[str]:
        return list(self.ig_urls)

    def conformance_version(self) -> str:
        """Changes whenever what the CapabilityStatement states may change."""
        return f"{getattr(self.search_params, 'version', 0)}.{self.operations.version}"
