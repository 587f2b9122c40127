"""What every interaction receives: database handles, registries, the caller.

A ``Context`` is built once per request by the API layer (and once per entry
inside a bundle, sharing the transaction's ``session``). Keeping the database
session here means the same interaction code runs standalone or inside a
transaction bundle without knowing which.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.database import AsyncDatabase

    from fhir_server.settings import Settings


@dataclass
class Context:
    """Per-request state passed to every interaction."""

    db: AsyncDatabase[Any]
    settings: Settings
    base_url: str  # absolute base of this server, no trailing slash
    search_params: Any  # fhir_server.search.registry.SearchParameterRegistry
    services: Any = None  # fhir_server.services.Services: repository, policy, hooks, ...
    session: AsyncClientSession | None = None  # set inside a transaction bundle
    principal: Any = None  # the authenticated caller (security seam)
    request_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def in_session(self, session: AsyncClientSession) -> Context:
        return replace(self, session=session)

    def read_filter(self, type_: str) -> dict[str, Any]:
        """Extra MongoDB filter that restricts what this caller may see of ``type_``.

        The access policy plugs in here so that search, _include, history and
        bundles never return what a direct read would refuse. Empty = no limit.
        """
        policy = getattr(self.services, "policy", None)
        if policy is None:
            return {}
        return policy.read_filter(self, type_)

    def history_filter(self, type_: str | None) -> dict[str, Any]:
        """Extra filter on the ``_history`` collection, from the same access policy."""
        policy = getattr(self.services, "policy", None)
        if policy is None:
            return {}
        return policy.history_filter(self, type_)
