"""SMART on FHIR scopes, v1 and v2: what a token lets its holder attempt.

http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html. A scope
is ``<context>/<type or *>.<permissions>``; v2 permissions are letters of
``cruds`` (create, read, update, delete, search), v1's ``read`` means ``rs``,
``write`` ``cud`` and ``*`` all five. The context is ``user`` (a person
acting through this server's rules) or ``system`` (a trusted system).
Scopes only ever narrow: the access policy decides what the principal may do,
and the scopes then take away what the token was not granted. Unknown or
``patient/`` scopes grant nothing here (this server has no patient-facing
launch).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_SCOPE = re.compile(r"^(user|system|patient)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
ALL = frozenset("cruds")


@dataclass(frozen=True)
class Scopes:
    """Granted permissions per context and resource type (``*`` for every type)."""

    user: dict[str, frozenset[str]] = field(default_factory=dict)
    system: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | Iterable[str] | None) -> Scopes:
        items = raw.split() if isinstance(raw, str) else list(raw or [])
        user: dict[str, set[str]] = {}
        system: dict[str, set[str]] = {}
        for item in items:
            m = _SCOPE.match(item)
            if not m or m[4]:  # v2 query-narrowed scopes are not supported: grant nothing
                continue
            context, type_, perms = m[1], m[2], m[3]
            letters = _V1.get(perms, perms)
            if not set(letters) <= ALL:
                continue
            target = user if context == "user" else system if context == "system" else None
            if target is not None:
                target.setdefault(type_, set()).update(letters)
        return cls(
            {t: frozenset(p) for t, p in user.items()},
            {t: frozenset(p) for t, p in system.items()},
        )

    @property
    def has_system(self) -> bool:
        return bool(self.system)

    def allows(self, context: str, type_: str | None, permission: str) -> bool:
        """Whether ``permission`` (one of c r u d s) is granted on ``type_`` (None: every type)."""
        granted = self.user if context == "user" else self.system
        if permission in granted.get("*", frozenset()):
            return True
        return type_ is not None and permission in granted.get(type_, frozenset())

    def describe(self, context: str) -> str:
        granted = self.user if context == "user" else self.system
        return " ".join(f"{context}/{t}.{''.join(sorted(p))}" for t, p in sorted(granted.items()))
