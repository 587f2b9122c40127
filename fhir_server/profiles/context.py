"""Per-validation state shared by the walker and the check functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import Issue
from fhir_server.profiles.conformance import ConformanceSource
from fhir_server.profiles.model import CompiledProfile


@dataclass(frozen=True)
class Item:
    """One occurrence of an element in the instance.

    ``value`` is the JSON value (``None`` for a primitive present only through
    its ``_name`` extension sibling, which is ``ext``); ``loc`` its FHIRPath
    location; ``type_code`` its concrete type when known (choice key suffix or
    the element's single type).
    """

    value: Any
    ext: dict[str, Any] | None
    loc: str
    type_code: str | None = None

    @property
    def node(self) -> dict[str, Any] | None:
        """The object holding this item's children (``_name`` for primitives)."""
        if isinstance(self.value, dict):
            return self.value
        return self.ext if isinstance(self.ext, dict) else None


@dataclass
class Context:
    """What one ``validate`` call accumulates: the root, the profile in force, issues."""

    root: dict[str, Any]  # %resource: the resource being checked (maybe contained)
    source: ConformanceSource
    container: dict[str, Any] | None = None  # the resource containing ``root``, if any
    profile: CompiledProfile | None = None
    issues: list[Issue] = field(default_factory=list)
    seen_nodes: set[int] = field(default_factory=set)
    # Whether a value conforms to a profile URL (for ``profile`` discriminators).
    conforms: Callable[[Context, Any, str], bool] | None = (
        None  # JSON objects whose extensions were checked
    )

    @property
    def root_resource(self) -> dict[str, Any]:
        """%rootResource: the container of a contained resource, else the resource."""
        return self.container if self.container is not None else self.root

    def add(self, severity: str, code: str, msg_id: str, message: str, loc: str) -> None:
        where = f" (profile {self.profile.url})" if self.profile and self.profile.url else ""
        self.issues.append(Issue(severity, code, f"{message}{where}", (loc,), msg_id))
