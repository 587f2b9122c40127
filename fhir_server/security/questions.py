"""The booklet's powers, as policy questions other features ask (never scattered ``if``s).

* Closing, pausing, resuming or deleting a pathway (CarePlan): the coordinator (platform role)
  or a structure account of the record's structure ("seule la personne
  chargée de la coordination peut supprimer le parcours"; "se connecter en
  mode structure permet de clôturer le parcours").
* Attaching a pathway: a structure account or the coordinator.
* Reopening a closed pathway, changing a document's category, marking a
  misfiled document entered-in-error: the super-user only ("Zoom sur le rôle
  Super utilisateur").
* Breaking the glass: a person or a structure, never a trusted system.

A trusted system is limited by its scopes only, so it may do all but the last.
The super-user's and coordinator's roles add powers, not visibility: these
questions are asked about records the caller can already see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_server.security.habilitation import Visibility
from fhir_server.security.principal import COORDINATOR, SUPER_USER, Principal

CLOSED = frozenset({"completed", "revoked", "entered-in-error"})
PAUSED = "on-hold"  # "mettre en pause le parcours": by those who may close it


def may_close_pathway(principal: Principal, record_structures: frozenset[str]) -> bool:
    """Close (status completed / revoked) or delete a pathway of a record."""
    if principal.is_system or principal.has_role(COORDINATOR):
        return True
    return principal.is_structure and bool(set(principal.organizations) & record_structures)


def may_attach_pathway(principal: Principal) -> bool:
    """Attach a pathway to a record ("La connexion en mode structure est impérative"):
    a structure account or the coordinator."""
    return principal.is_system or principal.is_structure or principal.has_role(COORDINATOR)


def may_reopen_pathway(principal: Principal) -> bool:
    return principal.is_system or principal.has_role(SUPER_USER)


def may_recategorise_document(principal: Principal) -> bool:
    return principal.is_system or principal.has_role(SUPER_USER)


def may_mark_entered_in_error(principal: Principal) -> bool:
    return principal.is_system or principal.has_role(SUPER_USER)


def may_break_glass(principal: Principal) -> bool:
    return not principal.is_system


def record_structures(view: Visibility, careplan: Mapping[str, Any]) -> frozenset[str]:
    """The structures of a pathway's record: its care circles' managing organisations,
    and the organisation that authored the CarePlan."""
    subject = ((careplan.get("subject") or {}).get("reference")) or ""
    out = set(view.structures.get(subject.rpartition("Patient/")[2], frozenset()))
    author = ((careplan.get("author") or {}).get("reference")) or ""
    if author.startswith("Organization/"):
        out.add(author.partition("/")[2])
    return frozenset(out)
