"""Who is asking: a principal derived from a verified token's standard claims.

* ``fhirUser`` (SMART) names a ``Practitioner`` or a ``PractitionerRole``
  stored here, relative (``Practitioner/ID``) or absolute on this server's
  base. A Practitioner acts through all its active PractitionerRoles; a
  PractitionerRole acts alone; a PractitionerRole without ``practitioner`` is
  the **structure account** of its ``organization`` (the booklet's "compte
  structure").
* Without ``fhirUser``, the national professional identity provider's claims
  (Pro Santé Connect: ``SubjectNameID``, the idNat_PS "8" + RPPS; or a bare
  ``rpps`` claim) find the Practitioner by its identifier.
* Without either, a token with ``system/`` scopes is a trusted system (a
  regional platform, an EHR), limited by its scopes only.

Professions are the PractitionerRole ``code`` codings from TRE_G15, TRE_R95
and TRE_R85; platform roles (coordinator, super-user) are ``code`` codings
from the IG's ``mrtc-platform-role`` CodeSystem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhir_server.errors import Forbidden
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.security.periods import ended
from fhir_server.security.scopes import Scopes
from fhir_server.settings import SearchSettings
from fhir_server.storage.lookup import Lookup
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

PROFESSION_SYSTEMS = frozenset(
    {
        "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
        "https://mos.esante.gouv.fr/NOS/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre",
        "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge",
    }
)
PLATFORM_ROLE_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-platform-role"
COORDINATOR, SUPER_USER = "coordinator", "super-user"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # idNat_PS = "8" + RPPS
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
_USER_REF = re.compile(r"^(Practitioner|PractitionerRole)/([A-Za-z0-9\-.]{1,64})$")

SYSTEM, PERSON, STRUCTURE = "system", "person", "structure"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the policy reasons about it."""

    kind: str  # system | person | structure
    subject: str  # the token's ``sub``
    scopes: Scopes
    fhir_user: str | None = None  # Practitioner/ID or PractitionerRole/ID
    practitioner: str | None = None  # Practitioner id (persons)
    roles: tuple[str, ...] = ()  # PractitionerRole ids acted through
    organizations: tuple[str, ...] = ()  # Organization ids of those roles
    professions: frozenset[str] = frozenset()  # ``system|code``
    platform_roles: frozenset[str] = frozenset()  # coordinator, super-user
    name: str = ""  # "NOM Prénom" (the booklet's wording in notifications)
    client: str | None = None  # the OAuth client acting for the user (``azp`` / ``client_id``)
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def context(self) -> str:
        """The SMART scope context that applies: ``system`` or ``user``."""
        return "system" if self.kind == SYSTEM else "user"

    @property
    def is_system(self) -> bool:
        return self.kind == SYSTEM

    @property
    def is_structure(self) -> bool:
        return self.kind == STRUCTURE

    def has_role(self, role: str) -> bool:
        return role in self.platform_roles

    def member_refs(self) -> list[str]:
        """The references through which this principal can be a care-circle member or assignee."""
        refs = [f"PractitionerRole/{r}" for r in self.roles]
        if self.practitioner:
            refs.insert(0, f"Practitioner/{self.practitioner}")
        if self.kind == STRUCTURE:
            refs += [f"Organization/{o}" for o in self.organizations]
        return refs

    def cache_key(self) -> str:
        return f"{self.kind}|{self.fhir_user or self.subject}"


def _now() -> datetime:
    return datetime.now(UTC)


def relative_user(value: str, base_url: str) -> str | None:
    """``Practitioner/ID`` from a relative or absolute ``fhirUser`` on this server."""
    text = value.strip()
    if base_url and text.startswith(base_url.rstrip("/") + "/"):
        text = text[len(base_url.rstrip("/")) + 1 :]
    return text if _USER_REF.match(text) else None


def display_name(practitioner: Mapping[str, Any] | None) -> str:
    """The booklet's "NOM Prénom" from a Practitioner's first name."""
    names = (practitioner or {}).get("name") or []
    if not names or not isinstance(names[0], dict):
        return ""
    family = str(names[0].get("family") or "").upper()
    given = " ".join(str(g) for g in names[0].get("given") or [])
    return " ".join(p for p in (family, given) if p)


class PrincipalResolver:
    """Turns verified claims into a ``Principal`` by reading the directory resources."""

    def __init__(
        self, repository: Repository, registry: SearchParameterRegistry, settings: SearchSettings
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings
        self.lookup = Lookup(repository, registry, settings)

    async def _find(self, type_: str, query: Sequence[tuple[str, str]]) -> list[StoredResource]:
        return await self.lookup.find(type_, query, limit=100)

    async def resolve(self, claims: Mapping[str, Any], base_url: str) -> Principal:
        scopes = Scopes.parse(claims.get("scope") or claims.get("scp"))
        subject = str(claims.get("sub") or "")
        client = claims.get("azp") or claims.get("client_id")
        client = str(client) if client else None
        fhir_user = claims.get("fhirUser")
        if isinstance(fhir_user, str) and fhir_user:
            ref = relative_user(fhir_user, base_url)
            if ref is None:
                raise Forbidden(
                    f"fhirUser '{fhir_user}' must name a Practitioner or PractitionerRole "
                    "of this server",
                    msg_id="MRTC-AUTH-020",
                )
            type_, _, id_ = ref.partition("/")
            stored = await self.repository.read(type_, id_, ReadScope())
            if stored is None or stored.deleted or stored.resource is None:
                raise Forbidden(f"fhirUser {ref} is not known here", msg_id="MRTC-AUTH-021")
            if type_ == "Practitioner":
                return await self._practitioner(stored.resource, subject, scopes, client, claims)
            return await self._role(stored.resource, subject, scopes, client, claims)
        national = self._national_identifiers(claims)
        if national:
            found = await self._find("Practitioner", [("identifier", ",".join(national))])
            if len(found) != 1 or found[0].resource is None:
                raise Forbidden(
                    "No single Practitioner of this server carries the token's RPPS identifier",
                    msg_id="MRTC-AUTH-022",
                )
            return await self._practitioner(found[0].resource, subject, scopes, client, claims)
        if scopes.has_system:
            return Principal(SYSTEM, subject, scopes, name=subject or "system", client=client)
        raise Forbidden(
            "The token names no user (fhirUser, RPPS) and grants no system/ scope",
            msg_id="MRTC-AUTH-023",
        )

    @staticmethod
    def _national_identifiers(claims: Mapping[str, Any]) -> list[str]:
        """Identifier search values for the Pro Santé Connect ``SubjectNameID`` or an ``rpps``."""
        out: list[str] = []
        idnat = claims.get("SubjectNameID")
        if isinstance(idnat, str) and idnat.strip():
            idnat = idnat.strip()
            out.append(f"{IDNPS_SYSTEM}|{idnat}")
            if idnat.startswith("8") and len(idnat) == 12:
                out.append(f"{RPPS_SYSTEM}|{idnat[1:]}")
        rpps = claims.get("rpps")
        if isinstance(rpps, str) and rpps.strip():
            out += [f"{RPPS_SYSTEM}|{rpps.strip()}", f"{IDNPS_SYSTEM}|8{rpps.strip()}"]
        return list(dict.fromkeys(out))

    async def _practitioner(
        self,
        practitioner: dict[str, Any],
        subject: str,
        scopes: Scopes,
        client: str | None,
        claims: Mapping[str, Any],
    ) -> Principal:
        if practitioner.get("active") is False:
            raise Forbidden("This Practitioner is not active", msg_id="MRTC-AUTH-024")
        pid = str(practitioner["id"])
        roles = [
            r.resource
            for r in await self._find("PractitionerRole", [("practitioner", f"Practitioner/{pid}")])
            if r.resource is not None and _role_active(r.resource)
        ]
        return Principal(
            PERSON,
            subject,
            scopes,
            fhir_user=f"Practitioner/{pid}",
            practitioner=pid,
            roles=tuple(str(r["id"]) for r in roles),
            organizations=tuple(_organizations(roles)),
            professions=frozenset(_codes(roles, PROFESSION_SYSTEMS)),
            platform_roles=frozenset(
                c.split("|")[1] for c in _codes(roles, {PLATFORM_ROLE_SYSTEM})
            ),
            name=display_name(practitioner),
            client=client,
            claims=claims,
        )

    async def _role(
        self,
        role: dict[str, Any],
        subject: str,
        scopes: Scopes,
        client: str | None,
        claims: Mapping[str, Any],
    ) -> Principal:
        if not _role_active(role):
            raise Forbidden("This PractitionerRole is not active", msg_id="MRTC-AUTH-024")
        rid = str(role["id"])
        organizations = _organizations([role])
        platform = frozenset(c.split("|")[1] for c in _codes([role], {PLATFORM_ROLE_SYSTEM}))
        if role.get("practitioner") is not None:
            # A person's role, even when its practitioner is not a local reference: only a
            # role without any practitioner is a structure account.
            ref = str((role["practitioner"] or {}).get("reference") or "")
            local = "/".join(ref.split("/_history/")[0].rstrip("/").split("/")[-2:])
            pid: str | None = None
            person = None
            if local.startswith("Practitioner/"):
                pid = local.partition("/")[2]
                stored = await self.repository.read("Practitioner", pid, ReadScope())
                person = stored.resource if stored is not None and not stored.deleted else None
            return Principal(
                PERSON,
                subject,
                scopes,
                fhir_user=f"PractitionerRole/{rid}",
                practitioner=pid,
                roles=(rid,),
                organizations=tuple(organizations),
                professions=frozenset(_codes([role], PROFESSION_SYSTEMS)),
                platform_roles=platform,
                name=display_name(person),
                client=client,
                claims=claims,
            )
        name = ""
        if organizations:
            org = await self.repository.read("Organization", organizations[0], ReadScope())
            if org is not None and org.resource is not None:
                name = str(org.resource.get("name") or "")
        return Principal(
            STRUCTURE,
            subject,
            scopes,
            fhir_user=f"PractitionerRole/{rid}",
            roles=(rid,),
            organizations=tuple(organizations),
            platform_roles=platform,
            name=name or f"PractitionerRole/{rid}",
            client=client,
            claims=claims,
        )


def _role_active(role: Mapping[str, Any]) -> bool:
    return role.get("active") is not False and not ended(role.get("period"), _now())


def _organizations(roles: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for role in roles:
        ref = ((role.get("organization") or {}).get("reference")) or ""
        if ref.startswith("Organization/"):
            out.append(ref.partition("/")[2])
    return list(dict.fromkeys(out))


def _codes(roles: Sequence[Mapping[str, Any]], systems: frozenset[str] | set[str]) -> list[str]:
    out = []
    for role in roles:
        for concept in role.get("code") or []:
            for coding in (concept or {}).get("coding") or []:
                if isinstance(coding, dict) and coding.get("system") in systems:
                    out.append(f"{coding['system']}|{coding.get('code', '')}")
    return out
