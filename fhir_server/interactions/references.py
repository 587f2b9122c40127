"""Reference checks on every write: format, target type, and that local targets exist.

https://hl7.org/fhir/R4/references.html. A literal ``Reference.reference`` is
a relative ``Type/id`` (optionally ``/_history/version``), an absolute URL,
or ``#id`` for a contained resource (``#`` alone: the container).
``urn:uuid:`` / ``urn:oid:`` placeholders and conditional references
(``Type?criteria``) only mean something inside a batch or transaction, which
rewrites them to ``Type/id`` before the entry is written
(``interactions/bundle.py``); one that reaches a write is refused.

Two steps, both called from the write pipeline (``interactions/write.py``):

* ``check_format`` (in ``prepare``, no I/O): every reference is well formed
  and names a resource type its element allows - the targets come from the
  shipped R4 definitions (``profiles/reference_targets.py``); a profile that
  narrows them further is checked by the profile validator. 400 naming the
  element (``Observation.subject``).
* ``check_targets_exist`` (in ``store``, inside the write's transaction):
  every local literal target exists and is not deleted, unless
  ``FHIR_REFERENTIAL_INTEGRITY=false``. 422, issue code ``not-found``. Only
  references the previous version did not already hold are checked, so a
  resource whose target was deleted later can still be updated (deletes do
  not cascade: see docs/decisions/0012-references.md). Inside a transaction
  bundle the check is deferred to the end of the bundle, when every entry is
  written, and still runs in the same database transaction.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fhir_server.errors import InvalidResource, Issue, UnresolvedReference
from fhir_server.interactions.context import Context
from fhir_server.interactions.reference_kinds import Literal, Pending
from fhir_server.profiles.reference_targets import FoundReference, ReferenceMap, core_map
from fhir_server.resource_types import is_supported

_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE = re.compile(rf"^([A-Z][A-Za-z]+)/({_ID})(?:/_history/({_ID}))?$")
_REST_TAIL = re.compile(rf"(?:^|/)([A-Z][A-Za-z]+)/({_ID})(?:/_history/({_ID}))?$")
_CONTAINED = re.compile(rf"^#(?:{_ID})?$")
_UUID = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_OID = re.compile(r"^urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+$")
_CONDITIONAL = re.compile(r"^([A-Z][A-Za-z]+)\?(.+)$")

MSG_MALFORMED = "MRTC-REF-001"
MSG_UNKNOWN_TYPE = "MRTC-REF-002"
MSG_TARGET_TYPE = "MRTC-REF-003"
MSG_PLACEHOLDER = "MRTC-REF-004"
MSG_CONDITIONAL = "MRTC-REF-005"
MSG_TYPE_MISMATCH = "MRTC-REF-006"
MSG_NOT_FOUND = "MRTC-REF-010"
MSG_DELETED = "MRTC-REF-011"
MSG_NO_VERSION = "MRTC-REF-012"

_SHAPES = "Type/id, Type/id/_history/version, an absolute URL or #contained-id"


def classify(ref: str, base_url: str, types: frozenset[str]) -> Literal:
    """Tell what kind of reference ``ref`` is, and why it is malformed if it is."""
    if not ref or ref != ref.strip():
        return Literal("malformed", problem="a reference may not be empty or padded with spaces")
    if ref.startswith("#"):
        if _CONTAINED.match(ref):
            return Literal("contained")
        return Literal("malformed", problem=f"'{ref[1:]}' is not a valid contained id")
    if ref.startswith("urn:"):
        if _UUID.match(ref) or _OID.match(ref):
            return Literal("placeholder")
        return Literal("malformed", problem="only urn:uuid: and urn:oid: placeholders exist")
    conditional = _CONDITIONAL.match(ref)
    if conditional:
        return Literal("conditional", type=conditional.group(1))
    if base_url and ref.startswith(base_url + "/"):
        local = classify(ref[len(base_url) + 1 :], "", types)
        return local if local.kind == "local" or local.kind == "malformed" else _malformed()
    if "://" in ref:
        parts = urlsplit(ref)
        if not parts.scheme or not parts.netloc or " " in ref:
            return Literal("malformed", problem="an absolute reference must be a URL")
        tail = _REST_TAIL.search(parts.path)
        if tail and tail.group(1) in types:
            return Literal("external", type=tail.group(1), id=tail.group(2))
        return Literal("external")
    relative = _RELATIVE.match(ref)
    if relative:
        type_, id_, version = relative.groups()
        if type_ not in types:
            return Literal("malformed", type=type_, problem=f"'{type_}' is not a resource type")
        return Literal("local", type=type_, id=id_, version=version)
    return _malformed()


def _malformed() -> Literal:
    return Literal("malformed", problem=f"expected {_SHAPES}")


def _format_issues(found: FoundReference, literal: Literal | None) -> list[Issue]:
    """Problems of one Reference: its string, its target type, its ``type`` element."""
    value, where = found.value, found.location
    ref = value.get("reference")
    issues: list[Issue] = []

    def issue(message: str, msg_id: str) -> None:
        issues.append(Issue("error", "value", f"{where}: {message}", (where,), msg_id))

    if literal is not None:
        if literal.kind == "malformed":
            msg_id = MSG_UNKNOWN_TYPE if literal.type else MSG_MALFORMED
            issue(f"'{ref}' is not a valid reference: {literal.problem}", msg_id)
            return issues
        if literal.kind == "placeholder":
            issue(
                f"'{ref}' is a bundle placeholder: it must name the fullUrl of an entry "
                "of the same batch or transaction, which the server replaces by the "
                "entry's Type/id",
                MSG_PLACEHOLDER,
            )
            return issues
        if literal.kind == "conditional":
            issue(
                f"'{ref}' is a conditional reference: the server resolves those only "
                "inside a batch or transaction bundle",
                MSG_CONDITIONAL,
            )
            return issues
    declared = value.get("type")
    declared_type = declared if isinstance(declared, str) and ":" not in declared else None
    literal_type = literal.type if literal is not None else None
    if declared_type and literal_type and literal_type != declared_type:
        issue(f"Reference.type '{declared}' contradicts the reference '{ref}'", MSG_TYPE_MISMATCH)
        return issues
    target = literal_type or declared_type
    if target is not None and found.targets is not None and target not in found.targets:
        issue(
            f"a reference to {target} is not allowed here; allowed targets: "
            f"{', '.join(sorted(found.targets))}",
            MSG_TARGET_TYPE,
        )
    return issues


def _literals(
    resource: dict[str, Any], base_url: str, refs: ReferenceMap
) -> list[tuple[FoundReference, Literal | None]]:
    out = []
    for found in refs.references(resource):
        ref = found.value.get("reference")
        literal = classify(ref, base_url, refs.resource_types) if isinstance(ref, str) else None
        out.append((found, literal))
    return out


def check_format(ctx: Context, type_: str, resource: dict[str, Any]) -> None:
    """Raise 400 naming every malformed or misdirected reference of ``resource``."""
    issues: list[Issue] = []
    for found, literal in _literals(resource, ctx.base_url, core_map()):
        issues.extend(_format_issues(found, literal))
    if issues:
        raise InvalidResource(
            f"{type_} has {len(issues)} invalid reference(s); first: {issues[0].diagnostics}",
            issues=issues,
            msg_id=issues[0].msg_id or MSG_MALFORMED,
        )


def local_targets(resource: dict[str, Any] | None, base_url: str) -> dict[str, Pending]:
    """The local literal targets of ``resource`` by ``Type/id[/_history/v]``, first location."""
    if resource is None:
        return {}
    out: dict[str, Pending] = {}
    for found, literal in _literals(resource, base_url, core_map()):
        if literal is not None and literal.kind == "local":
            out.setdefault(literal.key, Pending(literal, found.location, None))
    return out


async def check_targets_exist(
    ctx: Context,
    resource: dict[str, Any] | None,
    previous: dict[str, Any] | None,
) -> None:
    """Refuse (422) a new local reference whose target does not exist; inside the write."""
    if resource is None or not ctx.settings.referential_integrity:
        return
    known = local_targets(previous, ctx.base_url)
    wanted = [p for k, p in local_targets(resource, ctx.base_url).items() if k not in known]
    if not wanted:
        return
    pending = ctx.pending_references
    if pending is not None:  # a transaction bundle checks once every entry is written
        pending.extend(Pending(p.target, p.location, ctx.bundle_entry) for p in wanted)
        return
    await verify(ctx, wanted)


async def verify(ctx: Context, wanted: list[Pending]) -> None:
    """Look every target up (one query per type) and raise 422 naming the missing ones."""
    repository = ctx.services.repository
    by_type: dict[str, set[str]] = {}
    for p in wanted:
        if p.target.type and is_supported(p.target.type):
            by_type.setdefault(p.target.type, set()).add(p.target.id or "")
    state: dict[str, bool] = {}
    for type_, ids in by_type.items():
        found = await repository.presence(type_, sorted(ids), ctx.scope)
        state.update({f"{type_}/{id_}": deleted for id_, deleted in found.items()})
    issues: list[Issue] = []
    for p in wanted:
        key = f"{p.target.type}/{p.target.id}"
        prefix = (p.entry,) if p.entry else ()
        where = (f"{p.entry}: " if p.entry else "") + p.location
        if key not in state:
            problem, msg_id = f"{key} does not exist on this server", MSG_NOT_FOUND
        elif p.target.version is not None:
            version = p.target.version
            stored = (
                await repository.read_version(
                    p.target.type or "", p.target.id or "", int(version), ctx.scope
                )
                if version.isdigit()
                else None
            )
            if stored is not None:
                continue
            problem, msg_id = f"{key} has no version {version}", MSG_NO_VERSION
        elif state[key]:
            problem, msg_id = f"{key} has been deleted", MSG_DELETED
        else:
            continue
        issues.append(
            Issue("error", "not-found", f"{where}: {problem}", (*prefix, p.location), msg_id)
        )
    if issues:
        raise UnresolvedReference(
            f"{len(issues)} reference(s) point to nothing; first: {issues[0].diagnostics}",
            issues=issues,
            msg_id=issues[0].msg_id or MSG_NOT_FOUND,
        )
