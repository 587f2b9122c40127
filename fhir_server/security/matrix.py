"""The booklet's profession x document-category matrix, read from the IG.

The table of "La section Bilan Initial MSP" (who reads and writes which kind
of document) is data of the implementation guide: the CodeSystem
``mrtc-document-category`` lists, per category, each ``authorisedProfession``
(TRE_G15 / TRE_R95 / TRE_R85 codings). This module only reads it; changing
who sees psychological documents is an IG release, never a code change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_server.ig import ImplementationGuide

CATEGORY_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-document-category"


def coding_key(coding: Mapping[str, Any]) -> str:
    return f"{coding.get('system', '')}|{coding.get('code', '')}"


@dataclass(frozen=True)
class DocumentMatrix:
    """Category code -> the profession codings (``system|code``) that may read and write it."""

    allowed: Mapping[str, frozenset[str]]

    @classmethod
    def from_ig(cls, ig: ImplementationGuide) -> DocumentMatrix:
        for cs in ig.of_type("CodeSystem"):
            if cs.get("url") == CATEGORY_SYSTEM:
                return cls(
                    {
                        concept["code"]: frozenset(
                            coding_key(p["valueCoding"])
                            for p in concept.get("property", [])
                            if p.get("code") == "authorisedProfession" and "valueCoding" in p
                        )
                        for concept in cs.get("concept", [])
                    }
                )
        return cls({})

    def forbidden_for(self, professions: Iterable[str]) -> list[str]:
        """The categories none of ``professions`` may see (sorted, as ``system|code``)."""
        mine = set(professions)
        return sorted(
            f"{CATEGORY_SYSTEM}|{code}" for code, who in self.allowed.items() if not who & mine
        )

    def may_use(self, professions: Iterable[str], categories: Iterable[str]) -> bool:
        """Whether every MRTC category among ``categories`` is open to one of ``professions``."""
        forbidden = set(self.forbidden_for(professions))
        return not any(c in forbidden for c in categories)


def document_categories(resource: Mapping[str, Any]) -> list[str]:
    """The MRTC category codings of a DocumentReference, as ``system|code``."""
    out = []
    for concept in resource.get("category") or []:
        for coding in (concept or {}).get("coding") or []:
            if isinstance(coding, dict) and coding.get("system") == CATEGORY_SYSTEM:
                out.append(coding_key(coding))
    return sorted(set(out))
