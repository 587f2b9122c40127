"""What a reference string is, and a target still to look up (see ``references``).

Kept apart so that ``Context`` can carry the targets a transaction bundle
checks at its end without importing the checks themselves.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Literal:
    """What a ``Reference.reference`` string is."""

    kind: str  # local | external | contained | placeholder | conditional | malformed
    type: str | None = None
    id: str | None = None
    version: str | None = None
    problem: str = ""

    @property
    def key(self) -> str:
        return f"{self.type}/{self.id}" + (f"/_history/{self.version}" if self.version else "")


@dataclass(frozen=True)
class Pending:
    """A local target to look up, and who points at it."""

    target: Literal
    location: str  # Observation.subject
    entry: str | None  # Bundle.entry[3] inside a transaction
