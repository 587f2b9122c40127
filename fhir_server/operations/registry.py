"""The operation registry: ``$name`` -> handler, levels, types and definition.

https://hl7.org/fhir/R4/operations.html. Operations are registered at start
with the canonical URL of their OperationDefinition, so the
CapabilityStatement lists exactly the operations that exist and an unknown
``$name`` is a clear 404 rather than a fall-through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import MethodNotAllowed, ResourceNotFound
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest

OperationHandler = Callable[[Context, FhirRequest], Awaitable[Outcome]]


@dataclass
class Operation:
    name: str
    handler: OperationHandler
    definition: str  # canonical URL of the OperationDefinition
    system: bool = False
    types: frozenset[str] | None = None  # None: every type
    type_level: bool = False
    instance: bool = False
    affects_state: bool = False
    methods: frozenset[str] = field(default_factory=lambda: frozenset({"GET", "POST"}))
    produces: tuple[str, ...] = ()  # non-FHIR media types it answers in (an image), default first

    def applies(self, type_: str | None, instance: bool) -> bool:
        if type_ is None:
            return self.system
        if self.types is not None and type_ not in self.types:
            return False
        return self.instance if instance else self.type_level


class OperationRegistry:
    def __init__(self) -> None:
        self._ops: dict[str, list[Operation]] = {}
        self.version = 0

    def register(self, op: Operation) -> None:
        self._ops.setdefault(op.name, []).append(op)
        self.version += 1

    def find(self, name: str, type_: str | None, instance: bool) -> Operation:
        for op in self._ops.get(name, ()):
            if op.applies(type_, instance):
                return op
        where = f"{type_}/[id]" if instance else (type_ or "the system level")
        raise ResourceNotFound(
            f"Operation ${name} is not supported on {where}", msg_id="MRTC-OP-101"
        )

    def produces(self, req: FhirRequest) -> tuple[str, ...]:
        """What ``req``'s operation writes besides FHIR, for content negotiation; () if none."""
        if req.interaction != "operation" or req.operation is None:
            return ()
        for op in self._ops.get(req.operation, ()):
            if op.applies(req.type, req.id is not None):
                return op.produces
        return ()

    async def invoke(self, ctx: Context, req: FhirRequest) -> Outcome:
        assert req.operation is not None
        op = self.find(req.operation, req.type, req.id is not None)
        if req.method not in op.methods or (req.method == "GET" and op.affects_state):
            raise MethodNotAllowed(
                f"${op.name} cannot be invoked with {req.method}", msg_id="MRTC-OP-102"
            )
        return await op.handler(ctx, req)

    def capability_entries(self, type_: str | None) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for name, ops in sorted(self._ops.items()):
            for op in ops:
                if op.applies(type_, False) or (type_ is not None and op.applies(type_, True)):
                    seen.setdefault(name, {"name": name, "definition": op.definition})
        return list(seen.values())
