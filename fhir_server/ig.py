"""The implementation guide as loaded at start: read once, then injected everywhere.

``ig/index.json`` lists one FHIR resource per file and flags the conformance
resources the server serves. The guide is read here once per server and
handed to whoever needs it: the profile validator (its StructureDefinitions,
ValueSets, CodeSystems), the search registry (its SearchParameters), the
operations (its Questionnaire), and start-up, which writes the served
resources into the database through the normal write path when their
content changed. Served resources are read-only over REST: the IG is changed
by releasing a new IG.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


@dataclass
class ImplementationGuide:
    """Every resource of the IG, what is served, and lookups by canonical URL and type."""

    root: Path | None = None
    resources: list[dict[str, Any]] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)  # flagged conformance in the index
    canonical_base: str | None = None

    @classmethod
    def load(cls, root: Path) -> ImplementationGuide:
        """Read ``root/index.json`` and the files it lists (every ``*.json`` without one)."""
        ig = cls(root)
        index_path = root / "index.json"
        if not index_path.exists():
            log.warning("no implementation guide index", extra={"path": str(index_path)})
            for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
                resource = _read(path)
                if resource is not None:
                    ig.resources.append(resource)
            return ig
        index = orjson.loads(index_path.read_bytes())
        ig.canonical_base = index.get("canonicalBase") if isinstance(index, dict) else None
        for item in index.get("files", []) if isinstance(index, dict) else []:
            name = item.get("file") if isinstance(item, dict) else item
            resource = _read(root / name) if isinstance(name, str) else None
            if resource is None:
                continue
            ig.resources.append(resource)
            if isinstance(item, dict) and item.get("conformance"):
                ig.served.append(resource)  # examples of patient data are never served
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

    @property
    def read_only(self) -> frozenset[tuple[str, str]]:
        """(type, id) of the served resources, which clients may not change."""
        return frozenset((r["resourceType"], r["id"]) for r in self.served if "id" in r)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        resource = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("skipping unreadable IG file %s: %s", path, exc)
        return None
    return resource if isinstance(resource, dict) and "resourceType" in resource else None


def content_hash(resource: dict[str, Any]) -> str:
    """What identifies a served resource's content (its meta excluded) across starts."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
