"""The access policy seam: one object answers "may this caller do this, see that?".

``authorize`` sees every request (and every bundle entry) before it runs, in
``interactions.dispatch.handle``. ``restriction`` says what the caller may
see, as search criteria (``search.restriction``) that storage compiles into
every query it runs, before paging: searches, includes, chains, ``_has``,
counts, history and reads all apply the same rule, so nothing leaks that a
direct read would refuse. ``OpenPolicy`` allows everything: it is the policy
of a server without authentication, to be replaced by the MRTC care-team
policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fhir_server.search.restriction import Restriction


@dataclass(frozen=True)
class AccessRequest:
    """What a request asks to do, as the policy needs to know it (no HTTP, no body)."""

    interaction: str  # a route-table interaction: read, search-type, create, operation, ...
    method: str
    type: str | None = None
    id: str | None = None
    operation: str | None = None


class AccessPolicy(Protocol):
    async def authorize(self, principal: object | None, request: AccessRequest) -> None:
        """Raise a FHIR error (401/403/404) when ``principal`` may not make ``request``."""
        ...

    def restriction(self, principal: object | None) -> Restriction | None:
        """What ``principal`` may see; None: everything."""
        ...


class OpenPolicy:
    """Allows every request; used until authentication is configured."""

    async def authorize(self, principal: object | None, request: AccessRequest) -> None:
        return None

    def restriction(self, principal: object | None) -> Restriction | None:
        return None
