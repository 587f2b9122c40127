"""Write-time behaviour per resource type (normalisation, derived data).

A hook takes the resource JSON about to be stored and returns it (possibly
changed): e.g. computing BMI from weight and height, or normalising a
Patient's identity traits. Hooks run inside the write transaction, after
structural validation and before profile validation and indexing, for every
create, update, patch and bundle entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

WriteHook = Callable[[Any, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class WriteHooks:
    """Registry of hooks by resource type; ``"*"`` applies to every type."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[WriteHook]] = {}

    def register(self, type_: str, hook: WriteHook) -> None:
        self._hooks.setdefault(type_, []).append(hook)

    def registered(self, type_: str) -> bool:
        """Whether any hook may change a ``type_`` resource (then it is validated again)."""
        return bool(self._hooks.get("*") or self._hooks.get(type_))

    async def run(self, ctx: Any, type_: str, resource: dict[str, Any]) -> dict[str, Any]:
        for hook in (*self._hooks.get("*", ()), *self._hooks.get(type_, ())):
            resource = await hook(ctx, type_, resource)
        return resource
