"""The access policy: one object answers "may this caller do this, see that?".

``authorize`` sees every request (and every bundle entry) before it runs, in
``interactions.dispatch.handle``. ``restriction`` says what the caller may
see, as search criteria (``search.restriction``) that storage compiles into
every query it runs, before paging: searches, includes, chains, ``_has``,
counts, history and reads all apply the same rule, so nothing leaks that a
direct read would refuse. ``check_write`` runs on every version about to be
stored (``interactions.write.store``). ``OpenPolicy`` allows everything (a
server-internal caller, and tests of the storage seam); the MRTC rules are
``care_policy.CarePolicy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fhir_server.search.restriction import Restriction
from fhir_server.storage.repository import ReadScope, StoredResource


@dataclass(frozen=True)
class AccessRequest:
    """What a request asks to do, as the policy needs to know it (no HTTP, no body)."""

    interaction: str  # a route-table interaction: read, search-type, create, operation, ...
    method: str
    type: str | None = None
    id: str | None = None
    operation: str | None = None


class AccessPolicy(Protocol):
    async def authenticate(self, authorization: str | None, base_url: str) -> object | None:
        """The principal of an ``Authorization`` header (401/403 when there is none)."""
        ...

    async def authorize(self, principal: object | None, request: AccessRequest) -> None:
        """Raise a FHIR error (401/403/404/405) when ``principal`` may not make ``request``."""
        ...

    async def restriction(self, principal: object | None) -> Restriction | None:
        """What ``principal`` may see; None: everything."""
        ...

    async def check_write(
        self,
        principal: object | None,
        scope: ReadScope,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        """Raise a FHIR error when ``principal`` may not store this version (None: a deletion)."""
        ...


class OpenPolicy:
    """Allows every request: server-internal work and tests of the storage seam."""

    async def authenticate(self, authorization: str | None, base_url: str) -> object | None:
        return None

    async def authorize(self, principal: object | None, request: AccessRequest) -> None:
        return None

    async def restriction(self, principal: object | None) -> Restriction | None:
        return None

    async def check_write(
        self,
        principal: object | None,
        scope: ReadScope,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        return None
