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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhir_server.startup import StartupRefused


@dataclass
class ImplementationGuide:
    """Every resource of the IG, what is served, and lookups by canonical URL and type."""

    root: Path | None = None
    resources: list[dict[str, Any]] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)  # flagged conformance in the index
    files: list[str] = field(default_factory=list)  # the file of each of ``resources``
    canonical_base: str | None = None

    @classmethod
    def load(cls, root: Path) -> ImplementationGuide:
        """Read ``root/index.json`` and every file it lists; refuse a guide that is not whole.

        A missing index, an unreadable or unparsable file, or a file that is
        not a FHIR resource raises ``ImplementationGuideError`` naming it:
        serving with part of the guide would drop its rules silently.
        """
        ig = cls(root)
        index_path = root / "index.json"
        if not root.is_dir():
            raise ImplementationGuideError(f"{root} is not a directory")
        if not index_path.is_file():
            raise ImplementationGuideError(
                f"{index_path} is missing (an implementation guide folder lists its files in "
                "index.json; scripts/build_ig_index.py writes it)"
            )
        index = _read_json(index_path)
        files = index.get("files") if isinstance(index, dict) else None
        if not isinstance(files, list):
            raise ImplementationGuideError(f"{index_path} has no 'files' list")
        ig.canonical_base = index.get("canonicalBase")
        for item in files:
            name = item.get("file") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name or Path(name).name != name:
                raise ImplementationGuideError(f"{index_path} lists an invalid file entry {item!r}")
            resource = _read_json(root / name)
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise ImplementationGuideError(f"{root / name} is not a FHIR resource")
            ig.resources.append(resource)
            ig.files.append(name)
            if isinstance(item, dict) and item.get("conformance"):
                ig.served.append(resource)  # examples of patient data are never served
        return ig

    @classmethod
    def from_files(cls, root: Path) -> ImplementationGuide:
        """Every ``*.json`` resource of a folder without an index (offline tools, test guides)."""
        ig = cls(root)
        for path in sorted(root.rglob("*.json")):
            resource = _read_json(path)
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                ig.resources.append(resource)
                ig.files.append(str(path.relative_to(root)))
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


class ImplementationGuideError(StartupRefused):
    """The implementation guide cannot be served whole."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"implementation guide (FHIR_IG_DIR): {problem}", setting="FHIR_IG_DIR")


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ImplementationGuideError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise ImplementationGuideError(f"{path} is not valid JSON: {exc}") from exc


def content_hash(resource: dict[str, Any]) -> str:
    """What identifies a served resource's content (its meta excluded) across starts."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
