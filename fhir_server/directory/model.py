"""What the directory answers, whichever implementation: queries and FHIR resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Resource = dict[str, Any]


@dataclass(frozen=True)
class DirectoryQuery:
    """``$directory-search`` inputs (see ig/OperationDefinition-directory-search.json)."""

    family: str | None = None
    given: str | None = None
    city: str | None = None
    organization: str | None = None
    profession: str | None = None  # token: ``system|code`` or ``code``
    kind: Literal["person", "unit"] = "person"
    count: int = 20


@dataclass
class DirectoryResult:
    """Matches (PractitionerRole for people, Organization for units) and what they include."""

    matches: list[Resource] = field(default_factory=list)
    included: list[Resource] = field(default_factory=list)
    total: int = 0


class Directory(Protocol):
    """The professionals' directory (``FHIR_DIRECTORY``)."""

    base_url: str  # the directory's FHIR base: the fullUrl of what it returns

    async def search(self, query: DirectoryQuery) -> DirectoryResult: ...

    async def entry(self, type_: str, id_: str) -> DirectoryResult | None:
        """One PractitionerRole or Organization with what it references, or None."""
        ...

    async def aclose(self) -> None: ...
