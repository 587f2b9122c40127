"""The access policy seam: one object answers "may this caller do this?".

``authorize`` sees every request (and every bundle entry) before it runs, in
``interactions.dispatch.handle``; ``read_filter`` and ``history_filter``
restrict what searches, includes and history may return, so nothing leaks
that a direct read would refuse. ``OpenPolicy`` allows everything: it is the
policy of a server without authentication, to be replaced by the MRTC
care-team policy.
"""

from __future__ import annotations

from typing import Any, Protocol


class AccessPolicy(Protocol):
    async def authorize(self, ctx: Any, req: Any) -> None: ...

    def read_filter(self, ctx: Any, type_: str) -> dict[str, Any]: ...

    def history_filter(self, ctx: Any, type_: str | None) -> dict[str, Any]: ...


class OpenPolicy:
    """Allows every request; used until authentication is configured."""

    async def authorize(self, ctx: Any, req: Any) -> None:
        return None

    def read_filter(self, ctx: Any, type_: str) -> dict[str, Any]:
        return {}

    def history_filter(self, ctx: Any, type_: str | None) -> dict[str, Any]:
        return {}
