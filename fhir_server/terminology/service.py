"""A local terminology service: ``$expand``, ``$validate-code`` and ``$lookup``.

Spec: https://hl7.org/fhir/R4/terminology-service.html. The server answers
these operations for the code systems and value sets it holds itself - the
MRTC implementation guide's and the core FHIR ones copied into
``fhir_server/data/fhir-r4`` - and never calls out to an external
terminology server: a coordination platform must validate writes even when
the national terminology servers are unreachable.

Expansions are computed once per value-set URL and cached; the IG's value
sets are small, so a cached expansion is also what the profile validator uses
to check bindings.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fhir_server import errors
from fhir_server.terminology.codesystems import LocalCodeSystem
from fhir_server.terminology.valuesets import Expansion, ExpansionEntry, expand_compose

MSG_UNKNOWN_VALUESET = "MRTC-TX-001"
MSG_UNKNOWN_CODESYSTEM = "MRTC-TX-002"
MSG_UNKNOWN_CODE = "MRTC-TX-003"
MSG_NOT_EXPANDABLE = "MRTC-TX-004"
MSG_BAD_INPUT = "MRTC-TX-005"


def canonical_url(url: str) -> tuple[str, str | None]:
    """Split ``url|version`` into its parts."""
    base, _, version = url.partition("|")
    return base, version or None


def fold(text: str) -> str:
    """Lower-case and strip accents, so that ``cafe`` filters ``Café``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _param(name: str, value: Any, kind: str) -> dict[str, Any]:
    return {"name": name, f"value{kind}": value}


class TerminologyService:
    """Code systems and value sets held in memory, with cached expansions."""

    def __init__(self, resources: Iterable[dict[str, Any]] = ()) -> None:
        self._code_systems: dict[str, LocalCodeSystem] = {}
        self._value_sets: dict[str, dict[str, Any]] = {}
        self._expansions: dict[str, Expansion] = {}
        self._expanding: set[str] = set()
        for resource in resources:
            self.add(resource)

    # -- registry ---------------------------------------------------------

    def add(self, resource: dict[str, Any]) -> None:
        """Register a CodeSystem or ValueSet; later additions win (IG over core)."""
        kind = resource.get("resourceType")
        url = resource.get("url")
        if not url:
            return
        if kind == "CodeSystem":
            self._code_systems[url] = LocalCodeSystem(resource)
        elif kind == "ValueSet":
            self._value_sets[url] = resource
        else:
            return
        self._expansions.clear()

    def code_system(self, url: str) -> LocalCodeSystem | None:
        return self._code_systems.get(canonical_url(url)[0])

    def value_set(self, url: str) -> dict[str, Any] | None:
        return self._value_sets.get(canonical_url(url)[0])

    # -- expansion --------------------------------------------------------

    def expansion(self, value_set: str | dict[str, Any]) -> Expansion:
        """The (cached) expansion of a value set given by URL or as a resource.

        Raises ``ResourceNotFound`` for an unknown URL.
        """
        if isinstance(value_set, dict):
            url = value_set.get("url")
            if url and self._value_sets.get(url) is value_set and url in self._expansions:
                return self._expansions[url]
            return self._compute(value_set)
        url = canonical_url(value_set)[0]
        cached = self._expansions.get(url)
        if cached is not None:
            return cached
        resource = self._value_sets.get(url)
        if resource is None:
            raise errors.ResourceNotFound(
                f"ValueSet {url} is not known to this server", msg_id=MSG_UNKNOWN_VALUESET
            )
        expansion = self._compute(resource)
        self._expansions[url] = expansion
        return expansion

    def _compute(self, resource: dict[str, Any]) -> Expansion:
        url = resource.get("url") or f"urn:uuid:{id(resource)}"
        if url in self._expanding:
            return Expansion(url=url, problems=[f"ValueSet {url} imports itself"])
        self._expanding.add(url)
        try:
            return expand_compose(resource, self.code_system, self._import)
        finally:
            self._expanding.discard(url)

    def _import(self, url: str) -> Expansion:
        try:
            return self.expansion(url)
        except errors.ResourceNotFound:
            # An unknown imported value set makes the whole import undecidable.
            exp = Expansion(url=url, problems=[f"imported ValueSet {url} is unknown"])
            exp.open_systems.add(f"valueset:{url}")
            return exp

    def member(self, value_set: str, system: str | None, code: str) -> bool | None:
        """Binding check: is the code in the value set? ``None`` when unknowable."""
        try:
            return self.expansion(value_set).contains(system, code)
        except errors.ResourceNotFound:
            return None

    def expand(
        self,
        value_set: str | dict[str, Any],
        *,
        text_filter: str | None = None,
        count: int | None = None,
        offset: int = 0,
        active_only: bool = False,
        include_designations: bool = False,
    ) -> dict[str, Any]:
        """``ValueSet/$expand``: the value set with an ``expansion`` element.

        Raises ``NotImplementedInteraction`` when the value set draws on a code
        system that is not held locally (the expansion would be incomplete).
        """
        resource = value_set if isinstance(value_set, dict) else self.value_set(value_set)
        exp = self.expansion(value_set)
        if resource is None:  # pragma: no cover - expansion() raised already
            raise errors.ResourceNotFound(f"ValueSet {value_set} is not known to this server")
        if not exp.complete:
            systems = ", ".join(sorted(exp.open_systems))
            raise errors.NotImplementedInteraction(
                f"ValueSet {exp.url} cannot be expanded locally: it draws on {systems}, "
                "which this server does not hold",
                msg_id=MSG_NOT_EXPANDABLE,
            )
        if offset < 0 or (count is not None and count < 0):
            raise errors.InvalidRequest(
                "$expand count and offset must not be negative", msg_id=MSG_BAD_INPUT
            )
        entries: list[ExpansionEntry] = list(exp.entries.values())
        if active_only:
            entries = [e for e in entries if not e.inactive]
        if text_filter:
            needle = fold(text_filter)
            entries = [
                e for e in entries if needle in fold(e.display or "") or needle in fold(e.code)
            ]
        total = len(entries)
        page = entries[offset : None if count is None else offset + count]
        parameters: list[dict[str, Any]] = []
        if text_filter:
            parameters.append(_param("filter", text_filter, "String"))
        if offset:
            parameters.append(_param("offset", offset, "Integer"))
        if count is not None:
            parameters.append(_param("count", count, "Integer"))
        if active_only:
            parameters.append(_param("activeOnly", True, "Boolean"))
        out: dict[str, Any] = {
            k: resource[k]
            for k in ("resourceType", "id", "url", "version", "name", "title", "status")
            if k in resource
        }
        out["resourceType"] = "ValueSet"
        expansion: dict[str, Any] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "total": total,
        }
        if offset:
            expansion["offset"] = offset
        if parameters:
            expansion["parameter"] = parameters
        if page:
            expansion["contains"] = [e.to_fhir(designations=include_designations) for e in page]
        out["expansion"] = expansion
        return out

    # -- $validate-code ---------------------------------------------------

    def validate_code(
        self,
        value_set: str | dict[str, Any],
        *,
        code: str | None = None,
        system: str | None = None,
        display: str | None = None,
        coding: dict[str, Any] | None = None,
        codeable_concept: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``ValueSet/$validate-code``: a Parameters with result, message, display."""
        candidates: list[tuple[str | None, str, str | None]] = []
        if codeable_concept is not None:
            for c in codeable_concept.get("coding", []):
                if isinstance(c.get("code"), str):
                    candidates.append((c.get("system"), c["code"], c.get("display")))
        elif coding is not None:
            if isinstance(coding.get("code"), str):
                candidates.append((coding.get("system"), coding["code"], coding.get("display")))
        elif code is not None:
            candidates.append((system, code, display))
        if not candidates:
            raise errors.InvalidRequest(
                "$validate-code needs a code, a coding or a codeableConcept with a code",
                msg_id=MSG_BAD_INPUT,
            )
        exp = self.expansion(value_set)
        messages: list[str] = []
        for cand_system, cand_code, cand_display in candidates:
            found = exp.contains(cand_system, cand_code)
            label = f"{cand_system}#{cand_code}" if cand_system else cand_code
            if found:
                entry = exp.lookup(cand_system, cand_code)
                known = entry.display if entry else None
                if entry is not None and known is None:
                    cs = self.code_system(entry.system)
                    concept = cs.get(cand_code) if cs else None
                    known = concept.display if concept else None
                out = [_param("result", True, "Boolean")]
                if cand_display and known and not self._display_ok(entry, cand_display, known):
                    out = [
                        _param("result", False, "Boolean"),
                        _param(
                            "message",
                            f"The display '{cand_display}' is not a valid display for {label};"
                            f" expected '{known}'",
                            "String",
                        ),
                    ]
                if known:
                    out.append(_param("display", known, "String"))
                return {"resourceType": "Parameters", "parameter": out}
            if found is None:
                messages.append(
                    f"The code {label} cannot be checked against ValueSet {exp.url}: "
                    "its code system is not available on this server"
                )
                continue
            cs = self.code_system(cand_system) if cand_system else None
            if cs is not None and cs.complete and cs.get(cand_code) is None:
                messages.append(f"Unknown code '{cand_code}' in CodeSystem {cand_system}")
            else:
                messages.append(f"The code {label} is not in ValueSet {exp.url}")
        return {
            "resourceType": "Parameters",
            "parameter": [
                _param("result", False, "Boolean"),
                _param("message", "; ".join(messages), "String"),
            ],
        }

    def _display_ok(self, entry: ExpansionEntry | None, given: str, known: str) -> bool:
        wanted = " ".join(given.split()).casefold()
        options = {known}
        if entry is not None:
            options |= {d.get("value", "") for d in entry.designations}
            cs = self.code_system(entry.system)
            concept = cs.get(entry.code) if cs else None
            if concept is not None:
                options |= {d.get("value", "") for d in concept.designations}
                if concept.display:
                    options.add(concept.display)
        return any(" ".join(o.split()).casefold() == wanted for o in options if o)

    # -- $lookup ----------------------------------------------------------

    def lookup(
        self,
        system: str,
        code: str,
        *,
        properties: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """``CodeSystem/$lookup``: name, version, display, designations, properties."""
        cs = self.code_system(system)
        if cs is None:
            raise errors.ResourceNotFound(
                f"CodeSystem {system} is not known to this server", msg_id=MSG_UNKNOWN_CODESYSTEM
            )
        concept = cs.get(code)
        if concept is None:
            raise errors.ResourceNotFound(
                f"Code '{code}' is not defined in CodeSystem {system}", msg_id=MSG_UNKNOWN_CODE
            )
        wanted = set(properties) if properties else None
        out: list[dict[str, Any]] = [_param("name", cs.name, "String")]
        if cs.version:
            out.append(_param("version", cs.version, "String"))
        if concept.display:
            out.append(_param("display", concept.display, "String"))
        for designation in concept.designations:
            parts = []
            if designation.get("language"):
                parts.append(_param("language", designation["language"], "Code"))
            if designation.get("use"):
                parts.append(_param("use", designation["use"], "Coding"))
            parts.append(_param("value", designation.get("value", ""), "String"))
            out.append({"name": "designation", "part": parts})

        def prop(code_: str, value: Any, kind: str) -> None:
            if wanted is None or code_ in wanted:
                out.append(
                    {
                        "name": "property",
                        "part": [
                            _param("code", code_, "Code"),
                            {"name": "value", f"value{kind}": value},
                        ],
                    }
                )

        if concept.definition:
            prop("definition", concept.definition, "String")
        for parent in sorted(concept.parents):
            prop("parent", parent, "Code")
        for child in sorted(concept.children):
            prop("child", child, "Code")
        for p in concept.properties:
            if p.get("code") in ("parent", "child"):
                continue
            for key, value in p.items():
                if key.startswith("value"):
                    prop(p["code"], value, key[len("value") :])
        return {"resourceType": "Parameters", "parameter": out}
