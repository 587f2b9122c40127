"""What a caller may see, said in the search model's own words.

The access policy (``fhir_server.security``) decides who may see what; it
says so as search criteria per resource type, which storage adds to every
query it compiles (searches, chains, ``_has``, includes, counts, history),
before paging. Expressing the rule as criteria, rather than as a database
filter, keeps the policy above storage and the rule in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fhir_server.search.request import Clause


class Restriction(Protocol):
    def clauses_for(self, type_: str, given: Sequence[Clause] = ()) -> Sequence[Clause] | None:
        """Criteria every visible ``type_`` resource meets (ANDed); None: no restriction.

        ``given`` are the query's own criteria: a restriction may leave out what
        they already imply (never add to them), so a query it cannot narrow
        further does not pay for it.
        """
        ...

    def follows(self, type_: str) -> str | None:
        """For a type whose resources are visible exactly when what they point to is (a
        Binary and its ``securityContext``): the reference parameter that points there."""
        ...


@dataclass(frozen=True)
class TypeRestriction:
    """A restriction given per type; types not listed are ``default`` (None: unrestricted)."""

    by_type: Mapping[str, Sequence[Clause]] = field(default_factory=dict)
    default: Sequence[Clause] | None = None

    def clauses_for(self, type_: str, given: Sequence[Clause] = ()) -> Sequence[Clause] | None:
        return self.by_type.get(type_, self.default)

    def follows(self, type_: str) -> str | None:
        return None
