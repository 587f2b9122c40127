"""Helpers shared by the implementation-guide tests: load ig/ and evaluate FHIRPath."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from fhirpathpy import compile as fp_compile
from fhirpathpy.models import models

ROOT = Path(__file__).resolve().parents[2]
IG_DIR = ROOT / "ig"
BASE = "https://mrtc.example.org/fhir"
R4 = models["r4"]


@cache
def files() -> dict[str, dict[str, Any]]:
    """file name -> resource, every ig/ file except the index."""
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(IG_DIR.glob("*.json"))
        if p.name != "index.json"
    }


def of_type(rtype: str) -> list[dict[str, Any]]:
    return [r for r in files().values() if r["resourceType"] == rtype]


def by_url() -> dict[str, dict[str, Any]]:
    return {
        r["url"]: r for r in files().values() if "url" in r and not r["id"].startswith("example-")
    }


def profiles() -> list[dict[str, Any]]:
    return [r for r in of_type("StructureDefinition") if r["type"] != "Extension"]


def extensions() -> list[dict[str, Any]]:
    return [r for r in of_type("StructureDefinition") if r["type"] == "Extension"]


def examples_of(profile_url: str) -> list[dict[str, Any]]:
    return [r for r in files().values() if profile_url in r.get("meta", {}).get("profile", [])]


@cache
def _compiled(expression: str):
    return fp_compile(expression, R4)


def evaluate(node: Any, expression: str, env: dict[str, Any] | None = None) -> list[Any]:
    return _compiled(expression)(node, env or {})


def holds(node: Any, expression: str, resource: Any = None) -> bool:
    """Invariant semantics of the HL7 reference validator: only a single ``true`` passes (an
    empty result fails). ``%resource`` is the resource holding the node."""
    return evaluate(node, expression, {"resource": resource if resource is not None else node}) == [
        True
    ]


def element_nodes(resource: dict[str, Any], element_path: str) -> list[Any]:
    """The nodes an element path (without slice names) designates in a resource."""
    parts = element_path.split(".")
    if len(parts) == 1:
        return [resource]
    return evaluate(resource, ".".join(parts[1:]))


def load_index_builder():
    spec = importlib.util.spec_from_file_location(
        "build_ig_index", ROOT / "scripts" / "build_ig_index.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module
