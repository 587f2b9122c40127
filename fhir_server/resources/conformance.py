"""The implementation guide's resources, loaded at start and served read-only.

``ig/index.json`` lists one FHIR resource per file. At start-up each is
written into the database through the normal write path (so it is read,
searched and versioned like any resource) when its content changed since the
last start, and its (type, id) is remembered so that clients cannot modify
or delete it: the IG is changed by releasing a new IG, not over REST.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhir_server.errors import MethodNotAllowed

log = logging.getLogger(__name__)
READ_ONLY_INTERACTIONS = {
    "update",
    "patch",
    "delete",
    "conditional-update",
    "conditional-patch",
    "conditional-delete",
}


@dataclass
class ImplementationGuide:
    """The IG as loaded: every resource, plus lookups by canonical URL and type."""

    root: Path
    resources: list[dict[str, Any]] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)  # flagged conformance in the index

    @classmethod
    def load(cls, root: Path) -> ImplementationGuide:
        ig = cls(root)
        index_path = root / "index.json"
        if not index_path.exists():
            log.warning("no implementation guide index", extra={"path": str(index_path)})
            return ig
        index = orjson.loads(index_path.read_bytes())
        for item in index.get("files", []):
            resource = orjson.loads((root / item["file"]).read_bytes())
            ig.resources.append(resource)
            if item.get("conformance"):  # examples of patient data are never served
                ig.served.append(resource)
        return ig

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r.get("resourceType") in types]

    def by_url(self) -> dict[str, dict[str, Any]]:
        return {r["url"]: r for r in self.resources if "url" in r}

    def profiles_by_type(self) -> dict[str, list[str]]:
        """Constraint profiles on resources (not extensions), for supportedProfile."""
        out: dict[str, list[str]] = {}
        for sd in self.of_type("StructureDefinition"):
            if sd.get("derivation") == "constraint" and sd.get("kind") == "resource":
                out.setdefault(sd["type"], []).append(sd["url"])
        return out

    def guide_urls(self) -> list[str]:
        return [r["url"] for r in self.of_type("ImplementationGuide") if "url" in r]

    def keys(self) -> set[tuple[str, str]]:
        return {(r["resourceType"], r["id"]) for r in self.resources if "id" in r}


def content_hash(resource: dict[str, Any]) -> str:
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_writable(
    read_only: set[tuple[str, str]], interaction: str, type_: str | None, id_: str | None
) -> None:
    """Refuse REST changes to the IG's own resources (405)."""
    if interaction in READ_ONLY_INTERACTIONS and type_ and id_ and (type_, id_) in read_only:
        raise MethodNotAllowed(
            f"{type_}/{id_} belongs to the implementation guide and is read-only",
            headers={"Allow": "GET"},
            msg_id="MRTC-IG-001",
        )
