"""The long-lived collaborators of a running server, built once at start and frozen.

``app.create_app``'s lifespan builds them (``fhir_server.bootstrap``) and the
API layer hands them to every request through ``Context``; nothing creates a
database client, registry or validator per request. The operation registry
is held behind ``Operations``, a protocol of this layer, so that the
dispatcher reaches ``$operations`` without importing the ``operations``
package that sits above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fhir_server.directory.model import Directory
from fhir_server.ig import ImplementationGuide
from fhir_server.interactions.shared_state import SharedState
from fhir_server.notify.notifier import Notifier
from fhir_server.profiles.service import ProfileServices
from fhir_server.resources.hooks import WriteHooks
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.security.audit import AuditTrail
from fhir_server.security.policy import AccessPolicy
from fhir_server.settings import Settings
from fhir_server.storage.repository import Repository

if TYPE_CHECKING:
    from fhir_server.interactions.context import Context
    from fhir_server.interactions.outcome import Outcome
    from fhir_server.interactions.routing import FhirRequest


class Operations(Protocol):
    """The ``$operation`` registry as the interactions see it."""

    version: int  # bumped when an operation is registered

    async def invoke(self, ctx: Context, req: FhirRequest) -> Outcome: ...

    def capability_entries(self, type_: str | None) -> list[dict[str, Any]]: ...

    def produces(self, req: FhirRequest) -> tuple[str, ...]:
        """The non-FHIR media types the operation ``req`` names writes, its default first."""
        ...


@dataclass
class CapabilityCache:
    """The CapabilityStatement of this server instance, rebuilt when a registry changes."""

    key: str = ""
    statement: dict[str, Any] | None = None


@dataclass(frozen=True)
class Services:
    settings: Settings
    repository: Repository
    search_params: SearchParameterRegistry
    ig: ImplementationGuide
    profiles: ProfileServices
    hooks: WriteHooks
    policy: AccessPolicy
    operations: Operations
    shared_state: SharedState
    capabilities: CapabilityCache = field(default_factory=CapabilityCache)
    audit: AuditTrail | None = None  # None: requests are not audited (storage-level tests)
    notifier: Notifier | None = None  # notifications (Communication + outbox e-mail)
    directory: Directory | None = None  # the professionals' directory (FHIR_DIRECTORY)

    def conformance_version(self) -> str:
        """Changes whenever what the CapabilityStatement states may change."""
        return f"{self.search_params.version}.{self.operations.version}"
