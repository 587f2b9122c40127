"""Keep what this process caches in step with changes other processes commit.

Several server processes may serve one database (docs/deployment.md). What a
process derives from stored resources and keeps in memory (today the
search-parameter registry, and the CapabilityStatement built from it) must
follow a change committed through any of them, without a restart. Each such
cache is watched under a name; writes that change its source bump that
name's counter in their transaction (``Repository.bump_generation``); before
a request runs, ``refresh_if_due`` reads every counter (one small query, at
most once per ``FHIR_SHARED_STATE_CHECK_MS``) and refreshes the caches whose
counter moved. The counters are read *before* the refresh, so a change that
commits meanwhile is seen again at the next check rather than lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fhir_server.storage.repository import Repository

Refresh = Callable[[], Awaitable[object]]


class SharedState:
    """The watched caches of this process, and the counters it last saw."""

    def __init__(self, repository: Repository, check_ms: int) -> None:
        self.repository = repository
        self.check_s = check_ms / 1000
        self._refresh: dict[str, Refresh] = {}
        self._seen: dict[str, int] = {}
        self._due = 0.0
        self._lock = asyncio.Lock()

    def watch(self, name: str, refresh: Refresh) -> None:
        """Call ``refresh`` whenever counter ``name`` moves (registered at start)."""
        self._refresh[name] = refresh

    async def start(self) -> None:
        """Create the counters and take them as seen; load the caches right after this."""
        await self.repository.ensure_generations(list(self._refresh))
        self._seen = await self.repository.generations()
        self._due = time.monotonic() + self.check_s

    async def refresh_if_due(self) -> None:
        if time.monotonic() < self._due:
            return
        async with self._lock:
            if time.monotonic() < self._due:
                return  # another request refreshed while this one waited
            current = await self.repository.generations()
            for name, refresh in self._refresh.items():
                if current.get(name, 0) != self._seen.get(name, 0):
                    await refresh()
                    self._seen[name] = current.get(name, 0)
            self._due = time.monotonic() + self.check_s
