"""Profile validation: a resource against the profiles it claims or must follow.

Spec: https://hl7.org/fhir/R4/profiling.html and
https://hl7.org/fhir/R4/validation.html. ``ProfileValidator.validate`` walks
the instance alongside the compiled rule tree of each profile (see
``compiler``) and returns one ``Issue`` per violation, located by a FHIRPath
expression (``Patient.name[0].family``, ``Observation.value.ofType(Quantity)``)
and identified by the invariant key or a stable ``MRTC-PRF-*`` id (``rules``).

On top of the profiles (unless ``base_checks=False``) it runs the cheap part
of base validation that the structural check does not: required
bindings and error-level invariants of the core resource and data types, and
every extension whose definition is known (IG or core), with its context.

Unknown profiles: a profile named in ``meta.profile`` that this server does
not hold is a *warning* by default - FHIR lets any system tag resources with
profiles (FR Core, national IGs), and a regional exchange must not be
rejected for a tag it cannot check. It is an *error* when the URL is under
the MRTC IG's own canonical base (a typo must not silently bypass the
rules), when the profile is asked for explicitly (``$validate?profile=``,
enforcement settings), or when ``unknown_profile_severity="error"``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fhir_server.errors import Issue
from fhir_server.profiles import rules
from fhir_server.profiles.checks import (
    bindings,
    cardinality,
    codes,
    invariants,
    slicing,
    types,
    values,
)
from fhir_server.profiles.compiler import ProfileCompiler
from fhir_server.profiles.conformance import CORE_SD_PREFIX, ConformanceSource
from fhir_server.profiles.context import Context, Item
from fhir_server.profiles.functions import invariant_compiler
from fhir_server.profiles.model import CompiledProfile, ElementRule
from fhir_server.settings import DEFAULT_IG_DIR

log = logging.getLogger(__name__)

# Base types whose internals hold nothing cheap to check (or are checked elsewhere).
_NO_BASE_DESCENT = frozenset({"BackboneElement", "Element", "Extension", "xhtml"})


class ProfileValidator:
    """Validates FHIR JSON against StructureDefinitions compiled once at construction."""

    def __init__(
        self,
        source: ConformanceSource,
        *,
        base_checks: bool = True,
        unknown_profile_severity: str = "warning",
    ) -> None:
        self.source = source
        self.terminology = source.terminology
        self.base_checks = base_checks
        self.unknown_profile_severity = unknown_profile_severity
        self._fhirpath = invariant_compiler(source.terminology)
        self._compiler = ProfileCompiler(source, self._fhirpath)
        self._profiles: dict[str, CompiledProfile | None] = {}
        self._base: dict[str, CompiledProfile | None] = {}
        self.warnings: list[str] = []
        # Compile every IG profile and extension now, so the first write pays nothing
        # and IG authoring problems show up in the start-up log.
        for resource in source.ig_resources:
            url = resource.get("url")
            if (
                resource.get("resourceType") == "StructureDefinition"
                and resource.get("derivation") == "constraint"
                and isinstance(url, str)
            ):
                compiled = self.profile(url)
                if compiled is not None:
                    self.warnings.extend(compiled.warnings)
                    self.warnings.extend(self._dangling(compiled))
                    if self.base_checks and compiled.type:
                        self._base_profile(compiled.type)
        for warning in self.warnings:
            log.warning("IG profile: %s", warning)

    def _dangling(self, compiled: CompiledProfile) -> list[str]:
        """References from a profile to value sets and profiles nobody can resolve.

        At validation time an unknown value set or extension is skipped (it
        cannot be judged); at load time it is almost always an IG typo, so say so.
        """
        out: list[str] = []
        stack = [compiled.root]
        while stack:
            rule = stack.pop()
            stack.extend(rule.children.values())
            stack.extend(rule.slices)
            vs = rule.binding.value_set if rule.binding else None
            if vs and self.terminology.value_set(vs) is None:
                out.append(f"{compiled.url} {rule.id}: unknown value set {vs}")
            for t in rule.types:
                for url in t.profiles + t.target_profiles:
                    if self.source.structure_definition(url) is None and not self._is_core_type(
                        url
                    ):
                        out.append(f"{compiled.url} {rule.id}: unknown profile {url}")
        return out

    @classmethod
    def from_ig(cls, ig_dir: Path | str = DEFAULT_IG_DIR, **kwargs: Any) -> ProfileValidator:
        """Core definitions plus the IG in ``ig_dir``."""
        return cls(ConformanceSource.from_ig(ig_dir), **kwargs)

    @classmethod
    def from_resources(cls, resources: Iterable[dict[str, Any]], **kwargs: Any) -> ProfileValidator:
        """Core definitions plus the given StructureDefinitions/ValueSets/CodeSystems."""
        return cls(ConformanceSource(resources), **kwargs)

    # -- registry -------------------------------------------------------------

    def profile(self, url: str) -> CompiledProfile | None:
        """The compiled profile for ``url`` (cached), ``None`` if unknown."""
        key = url.split("|", 1)[0]
        if key not in self._profiles:
            sd = self.source.structure_definition(key)
            if sd is None:
                return None  # not cached: client-supplied URLs must not grow the cache
            compiled = None
            if sd.get("derivation") == "constraint":
                compiled = self._compiler.compile_profile(sd)
            self._profiles[key] = compiled
        return self._profiles[key]

    def _is_core_type(self, url: str) -> bool:
        return url.startswith(CORE_SD_PREFIX) and url[len(CORE_SD_PREFIX) :] in (
            self.source.base_snapshots
        )

    def _base_profile(self, type_name: str) -> CompiledProfile | None:
        if type_name not in self._base:
            self._base[type_name] = self._compiler.compile_base(type_name)
        return self._base[type_name]

    # -- entry point ----------------------------------------------------------

    def validate(
        self, resource: dict[str, Any], profiles: Iterable[str] | None = None
    ) -> list[Issue]:
        """Issues of ``resource`` against its claimed profiles plus ``profiles``.

        ``profiles`` are required by the caller ($validate's ``profile``, the
        enforcement settings): an unknown one is always an error.
        """
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return [
                Issue(
                    "error", "structure", "The resource has no resourceType", (), rules.WRONG_TYPE
                )
            ]
        ctx = Context(root=resource, source=self.source, conforms=self._conforms)
        if self.base_checks:
            self._validate_base(ctx, resource, rtype)
        meta = resource.get("meta")
        claimed = meta.get("profile") if isinstance(meta, dict) else None
        if not isinstance(claimed, list):
            claimed = []
        explicit = [p.split("|", 1)[0] for p in profiles or ()]
        wanted: dict[str, bool] = {}
        for url in claimed:
            if isinstance(url, str):
                wanted.setdefault(url.split("|", 1)[0], False)
        for url in explicit:
            wanted[url] = True
        for url, is_explicit in wanted.items():
            self._validate_profile(ctx, url, is_explicit, rtype, resource, rtype)
        self._validate_nested(ctx, resource, rtype)
        # A sliced extension is checked by the profile and by its own definition: report once.
        return list(dict.fromkeys(ctx.issues))

    def _validate_nested(self, ctx: Context, resource: dict[str, Any], loc: str) -> None:
        """Profiles claimed by contained resources and by the resources of a Bundle."""
        nested: list[tuple[Any, str, dict[str, Any] | None]] = [
            (c, f"{loc}.contained[{i}]", resource)
            for i, c in enumerate(resource.get("contained") or [])
        ]
        if resource.get("resourceType") == "Bundle":
            nested += [
                (e.get("resource"), f"{loc}.entry[{i}].resource", None)
                for i, e in enumerate(resource.get("entry") or [])
                if isinstance(e, dict)
            ]
        for inner, inner_loc, container in nested:
            if not isinstance(inner, dict) or not isinstance(inner.get("resourceType"), str):
                continue
            meta = inner.get("meta")
            inner_claims = meta.get("profile") if isinstance(meta, dict) else None
            for url in inner_claims if isinstance(inner_claims, list) else []:
                if isinstance(url, str):
                    self._validate_profile(
                        ctx,
                        url.split("|", 1)[0],
                        False,
                        inner["resourceType"],
                        inner,
                        inner_loc,
                        container,
                    )
            self._validate_nested(ctx, inner, inner_loc)

    def _validate_profile(
        self,
        ctx: Context,
        url: str,
        explicit: bool,
        rtype: str,
        resource: dict[str, Any],
        loc: str,
        container: dict[str, Any] | None = None,
    ) -> None:
        saved = ctx.root, ctx.container
        ctx.root, ctx.container = resource, container
        try:
            self._validate_profile_at(ctx, url, explicit, rtype, loc)
        finally:
            ctx.root, ctx.container = saved
            ctx.profile = None

    def _validate_profile_at(
        self, ctx: Context, url: str, explicit: bool, rtype: str, loc: str
    ) -> None:
        compiled = self.profile(url)
        if compiled is None:
            if self._is_core_type(url):
                if url[len(CORE_SD_PREFIX) :] != rtype:
                    ctx.profile = None
                    ctx.add(
                        "error",
                        "structure",
                        rules.WRONG_TYPE,
                        f"Profile {url} is for another resource type than {rtype}",
                        loc,
                    )
                return
            own = self.source.is_own_canonical(url)
            severity = (
                "error"
                if explicit or own or self.unknown_profile_severity == "error"
                else "warning"
            )
            ctx.profile = None
            ctx.add(
                severity,
                "not-found",
                rules.UNKNOWN_PROFILE,
                f"Profile {url} is not known to this server; the resource was not checked "
                "against it",
                f"{loc}.meta.profile" if not explicit else loc,
            )
            return
        seen: set[str] = set()
        current: CompiledProfile | None = compiled
        while current is not None and current.url not in seen:
            seen.add(current.url)
            if current.type != rtype:
                ctx.profile = current
                ctx.add(
                    "error",
                    "structure",
                    rules.WRONG_TYPE,
                    f"Profile {current.url} constrains {current.type}, not {rtype}",
                    loc,
                )
                return
            ctx.profile = current
            self._check_item(ctx, current.root, Item(ctx.root, None, loc, rtype))
            current = self.profile(current.base_profile) if current.base_profile else None
        ctx.profile = None

    # -- the profile walk -----------------------------------------------------

    def _items(self, node: dict[str, Any], rule: ElementRule, parent_loc: str) -> list[Item]:
        """The occurrences of ``rule``'s element in ``node`` (a JSON object)."""
        prefix = rule.choice_prefix
        if prefix is not None and rule.choice_type is None:
            out: list[Item] = []
            seen: set[str] = set()
            for raw in node:
                if not isinstance(raw, str):
                    continue
                key = raw[1:] if raw.startswith("_") else raw
                if (
                    key in seen
                    or not key.startswith(prefix)
                    or not key[len(prefix) :][:1].isupper()
                ):
                    continue
                seen.add(key)
                code = self._compiler.type_suffixes.get(key[len(prefix) :])
                if code is None:  # e.g. answerValueSet is not a type of answer[x]
                    continue
                out.extend(
                    self._occurrences(node, key, f"{parent_loc}.{prefix}.ofType({code})", code)
                )
            return out
        if rule.choice_type is not None and prefix is not None:
            loc = f"{parent_loc}.{prefix}.ofType({rule.choice_type})"
            return self._occurrences(node, rule.name, loc, rule.choice_type)
        single = rule.types[0].code if len(rule.types) == 1 else None
        return self._occurrences(node, rule.name, f"{parent_loc}.{rule.name}", single)

    @staticmethod
    def _occurrences(node: dict[str, Any], key: str, loc: str, type_code: str | None) -> list[Item]:
        value = node.get(key)
        ext = node.get("_" + key)
        if value is None and ext is None:
            return []
        if isinstance(value, list) or isinstance(ext, list):
            vs = value if isinstance(value, list) else []
            es = ext if isinstance(ext, list) else []
            return [
                Item(
                    vs[i] if i < len(vs) else None,
                    es[i] if i < len(es) and isinstance(es[i], dict) else None,
                    f"{loc}[{i}]",
                    type_code,
                )
                for i in range(max(len(vs), len(es)))
                if (i < len(vs) and vs[i] is not None) or (i < len(es) and es[i] is not None)
            ]
        return [Item(value, ext if isinstance(ext, dict) else None, loc, type_code)]

    def _check_element(
        self, ctx: Context, rule: ElementRule, items: list[Item], parent_loc: str
    ) -> None:
        cardinality.check(ctx, rule, items, parent_loc)
        if rule.slices:
            slicing.check(ctx, rule, items, parent_loc, self._check_item)
        for item in items:
            self._check_item(ctx, rule, item)

    def _check_item(self, ctx: Context, rule: ElementRule, item: Item) -> None:
        types.check(ctx, rule, item)
        values.check(ctx, rule, item)
        bindings.check(ctx, rule, item)
        invariants.check(ctx, rule, item)
        if rule.type_restricted:
            self._check_type_profiles(ctx, rule, item)
        node = item.node or {}
        for child in rule.children.values():
            self._check_element(ctx, child, self._items(node, child, item.loc), item.loc)

    def _conforms(self, ctx: Context, value: Any, url: str) -> bool:
        """Whether ``value`` meets profile ``url`` with no error (profile discriminators)."""
        compiled = self.profile(url)
        if compiled is None:
            return False
        root, container = ctx.root, ctx.container
        if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
            root, container = value, ctx.root_resource  # a contained target resource
        probe = Context(root=root, source=self.source, container=container, conforms=self._conforms)
        probe.profile = compiled
        self._check_item(probe, compiled.root, Item(value, None, "", compiled.type))
        return not any(i.severity in ("error", "fatal") for i in probe.issues)

    def _check_type_profiles(self, ctx: Context, rule: ElementRule, item: Item) -> None:
        """Validate an item against the profiles its type must conform to (extensions)."""
        for t in rule.types:
            if not t.profiles or (item.type_code and item.type_code != t.code):
                continue
            for url in t.profiles:
                compiled = self.profile(url)
                if compiled is None:
                    if t.code == "Extension" and not self._is_core_type(url):
                        ctx.add(
                            "warning",
                            "not-found",
                            rules.UNKNOWN_EXTENSION,
                            f"Extension definition {url} is not known; not checked",
                            item.loc,
                        )
                    continue
                saved = ctx.profile
                ctx.profile = compiled
                # The type profile's root cardinality is the slice's business.
                self._check_item(ctx, compiled.root, item)
                ctx.profile = saved

    # -- the base walk ----------------------------------------------------------

    def _validate_base(
        self,
        ctx: Context,
        resource: dict[str, Any],
        rtype: str,
        loc: str | None = None,
        container: dict[str, Any] | None = None,
    ) -> None:
        compiled = self._base_profile(rtype)
        if compiled is None:
            return
        saved = ctx.root, ctx.container
        ctx.root, ctx.container = resource, container
        item = Item(resource, None, loc or rtype, rtype)
        self._base_item(ctx, compiled.root, compiled.root, item)
        ctx.root, ctx.container = saved

    def _base_item(self, ctx: Context, top: ElementRule, rule: ElementRule, item: Item) -> None:
        bindings.check(ctx, rule, item)
        invariants.check(ctx, rule, item)
        code = item.type_code
        if code is None and len(rule.types) == 1:
            code = rule.types[0].code
        if code == "Coding" and rule is not top:
            codes.check(ctx, item)
        node = item.node
        if node is None:
            return
        self._known_extensions(ctx, node, item, rule)
        for child in rule.children.values():
            for sub in self._items(node, child, item.loc):
                self._base_item(ctx, top, child, sub)
        if rule.content_reference:
            target = _rule_by_path(top, rule.content_reference.lstrip("#"))
            if target is not None:
                for child in target.children.values():
                    for sub in self._items(node, child, item.loc):
                        self._base_item(ctx, top, child, sub)
            return
        if not code or code in _NO_BASE_DESCENT or not code[0].isupper() or rule is top:
            return
        if code == "Resource" and isinstance(item.value, dict):
            inner = item.value.get("resourceType")
            if isinstance(inner, str):
                # A contained resource's %rootResource is its container; a Bundle
                # entry's (or a Parameters resource's) is itself.
                container = ctx.root_resource if rule.path.endswith(".contained") else None
                self._validate_base(ctx, item.value, inner, item.loc, container)
            return
        compiled = self._base_profile(code)
        if compiled is not None:
            self._base_item(ctx, compiled.root, compiled.root, item)

    def _known_extensions(
        self, ctx: Context, node: dict[str, Any], item: Item, rule: ElementRule
    ) -> None:
        """Check the extensions of ``node``, wherever they appear.

        A known extension (IG or core) is validated against its definition
        and its context of use, even on a resource that claims no profile (as
        the HL7 validator does); unknown ones are accepted (open world). The
        values of every extension get the base checks. Each JSON object is
        visited once (a data-type item is walked as element and as type).
        """
        if id(node) in ctx.seen_nodes:
            return
        ctx.seen_nodes.add(id(node))
        where: set[str] | None = None
        for key in ("extension", "modifierExtension"):
            exts = node.get(key)
            if not isinstance(exts, list):
                continue
            for i, ext in enumerate(exts):
                if not isinstance(ext, dict):
                    continue
                loc = f"{item.loc}.{key}[{i}]"
                url = ext.get("url")
                compiled = self.profile(url) if isinstance(url, str) else None
                if compiled is not None and compiled.type == "Extension":
                    saved = ctx.profile
                    ctx.profile = compiled
                    self._check_item(ctx, compiled.root, Item(ext, None, loc, "Extension"))
                    if compiled.contexts:
                        where = where or _context_names(item, rule)
                        if not where & compiled.contexts:
                            ctx.add(
                                "error",
                                "structure",
                                rules.EXTENSION_CONTEXT,
                                f"Extension {compiled.url} is not allowed on "
                                f"{rule.path or item.type_code}; allowed on: "
                                f"{', '.join(sorted(compiled.contexts))}",
                                loc,
                            )
                    ctx.profile = saved
                base = self._base_profile("Extension")
                if base is not None:
                    self._base_item(ctx, base.root, base.root, Item(ext, None, loc, "Extension"))


def _context_names(item: Item, rule: ElementRule) -> set[str]:
    """The names an extension context may use for where ``item`` is."""
    names = {"Element", rule.path, rule.path.replace("[x]", "")}
    if item.type_code:
        names.add(item.type_code)
    if rule.content_reference:
        names.add(rule.content_reference.lstrip("#"))
    if "." in rule.path:
        names.add("BackboneElement")
    inner = item.value.get("resourceType") if isinstance(item.value, dict) else None
    if isinstance(inner, str):  # a resource (root, contained, Bundle entry)
        names |= {inner, "Resource", "DomainResource"}
    return names


def _rule_by_path(root: ElementRule, path: str) -> ElementRule | None:
    parts = path.split(".")
    if parts[0] != root.name:
        return None
    current: ElementRule | None = root
    for part in parts[1:]:
        if current is None:
            return None
        current = current.children.get(part) or current.children.get(part.replace("[x]", ""))
    return current
