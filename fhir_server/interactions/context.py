"""What every interaction receives: the services, the caller, and its storage scope.

A ``Context`` is built once per request by the API layer (and once per entry
inside a bundle, sharing the transaction). Its ``scope`` is what storage
receives on every call: the transaction the request runs in, and the access
restriction the policy gave the caller. Keeping the transaction here means
the same interaction code runs standalone or inside a transaction bundle
without knowing which; keeping the restriction here means no interaction can
query storage without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fhir_server.interactions.reference_kinds import Pending
from fhir_server.interactions.services import Services
from fhir_server.resources.hooks import Actor, AfterCommit
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import Settings
from fhir_server.storage.repository import ReadScope


@dataclass(frozen=True)
class Context:
    """Per-request state passed to every interaction and operation."""

    services: Services
    base_url: str  # absolute base of this server, no trailing slash
    scope: ReadScope = field(default_factory=ReadScope)
    principal: object | None = None  # the authenticated caller (security seam)
    request_id: str = ""
    source: str = ""  # the client's network address (for the audit trail)
    # Actions to run once the current transaction commits (None: not in a transaction).
    after_commit: list[AfterCommit] | None = None
    # Reference targets a transaction bundle checks once every entry is written
    # (``interactions.references``); None: each write checks its own at once.
    pending_references: list[Pending] | None = None
    bundle_entry: str | None = None  # "Bundle.entry[3]" while a bundle entry is written

    @classmethod
    def for_request(cls, services: Services, base_url: str, *, request_id: str = "") -> Context:
        """A server-internal context: no principal, nothing hidden (start-up, tools, tests).

        The policy refuses every FHIR request made without a principal
        (``dispatch.handle``); storage-level callers use this to see everything.
        """
        return cls(services, base_url.rstrip("/"), ReadScope(), None, request_id)

    @classmethod
    async def for_principal(
        cls,
        services: Services,
        base_url: str,
        principal: object | None,
        *,
        request_id: str = "",
        source: str = "",
    ) -> Context:
        """A request's context, restricted to what the policy lets ``principal`` see."""
        restriction = await services.policy.restriction(principal)
        return cls(
            services,
            base_url.rstrip("/"),
            ReadScope(restriction=restriction),
            principal,
            request_id,
            source,
        )

    def actor(self) -> Actor:
        """Who is acting, as write hooks (the audit trail) record it."""
        btg: frozenset[str] = getattr(self.scope.restriction, "break_glass", frozenset())
        return Actor(self.principal, self.request_id, self.source, frozenset(btg))

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def search_params(self) -> SearchParameterRegistry:
        return self.services.search_params

    @property
    def in_transaction(self) -> bool:
        return self.scope.transaction is not None

    def within(self, scope: ReadScope, after_commit: list[AfterCommit]) -> Context:
        """This context inside a transaction (``scope`` carries it)."""
        return replace(self, scope=scope, after_commit=after_commit)

    def as_server(self) -> Context:
        """This context acting as the server itself: same transaction, no principal, no restriction.

        For what the server writes on a caller's behalf (break-glass notifications):
        the caller's rules decided the request, the server writes its consequences.
        """
        return replace(self, principal=None, scope=self.scope.unrestricted())
