"""batch and transaction — POST [base] with a Bundle.

https://hl7.org/fhir/R4/http.html#transaction. A transaction runs in one
MongoDB transaction: all entries succeed or nothing is written. Entries are
processed in the spec's order (DELETE, POST, PUT/PATCH, GET/HEAD) after
references to other entries' fullUrls (``urn:uuid:`` placeholders, absolute
URLs) and conditional references (``Patient?identifier=..``) have been
resolved to ``Type/id`` (``bundle_references``); the response lists entries
in the request's order. A failing entry fails the whole transaction with an
OperationOutcome naming the entry; the existence of every referenced
resource is checked once all entries are written, in the same transaction.

Batch entries run independently, each in its own transaction, and report
their own status - but in dependency order: an entry that references
another entry's fullUrl runs after it, with the reference rewritten to the
id the server gave it, and fails (424) without running if that entry failed.

Every entry goes through ``dispatch.handle``, so the access policy decides
each one exactly as it would a direct request.
"""

from __future__ import annotations

import base64
import http
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from fhir_server.errors import (
    FailedDependency,
    FhirError,
    InvalidRequest,
    InvalidResource,
    Issue,
    operation_outcome,
)
from fhir_server.interactions import bundle_reads, bundle_references, references
from fhir_server.interactions.bundle_references import EntryRefs
from fhir_server.interactions.context import Context
from fhir_server.interactions.create import find_existing, strip_type
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest, resolve
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.write import in_transaction, new_id
from fhir_server.profiles import json_text
from fhir_server.profiles.strict_json import MSG_STRUCTURE, check_bundle, check_bundle_entry
from fhir_server.profiles.structure import check_structure
from fhir_server.storage.repository import instant

T = TypeVar("T")
EntryHandler = Callable[[Context, FhirRequest], Awaitable[Outcome]]
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    index: int
    full_url: str | None
    request: FhirRequest


def _fail(index: int, message: str) -> InvalidRequest:
    return InvalidRequest(
        f"Bundle.entry[{index}]: {message}",
        expression=(f"Bundle.entry[{index}]",),
        msg_id="MRTC-BNDL-001",
    )


def _relative(ctx: Context, url: str) -> str:
    if url.startswith(ctx.base_url + "/"):
        return url[len(ctx.base_url) + 1 :]
    if "://" in url.split("?", 1)[0]:  # a parameter value may hold a URL (identifier=http://..)
        raise InvalidRequest(f"'{url}' is not a URL of this server", msg_id="MRTC-BNDL-002")
    return url.lstrip("/")


def _patch_body(index: int, resource: Any, max_depth: int) -> tuple[Any, str]:
    """A PATCH entry carries its JSON Patch in a Binary (base64 data)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise _fail(index, "a PATCH entry must carry a Binary holding a JSON Patch")
    check_structure("Binary", resource, max_depth=max_depth)  # contentType, base64 data
    if "data" not in resource:
        raise _fail(index, "the Binary of a PATCH entry must hold base64 JSON")
    try:
        data = base64.b64decode("".join(resource["data"].split()), validate=True)
    except ValueError:
        raise _fail(index, "the Binary of a PATCH entry must hold base64 JSON") from None
    return json_text.loads(data, max_depth=max_depth), resource["contentType"]


def parse_entries(ctx: Context, bundle: dict[str, Any], outer: FhirRequest) -> list[Entry]:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidRequest("Bundle.entry must be an array", msg_id="MRTC-BNDL-003")
    parsed = []
    max_depth = ctx.settings.max_depth
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
            raise _fail(i, "every entry needs a request with method and url")
        issues = check_bundle_entry(raw, i, max_depth)
        if issues:
            raise InvalidResource(
                f"Bundle.entry[{i}] is invalid", issues=issues, msg_id=MSG_STRUCTURE
            )
        request = raw["request"]
        method = str(request.get("method") or "").upper()
        url = request.get("url")
        if method not in ORDER or not isinstance(url, str) or not url:
            raise _fail(
                i, "request.method must be GET, HEAD, POST, PUT, PATCH or DELETE with a url"
            )
        split = urlsplit(_relative(ctx, url))
        try:
            freq = resolve("GET" if method == "HEAD" else method, split.path, split.query)
        except FhirError as exc:
            raise _name_entry(exc, i, raw.get("fullUrl")) from None
        if freq.interaction == "bundle":
            raise _fail(i, "a bundle entry may not itself be a batch or transaction")
        freq.if_match = request.get("ifMatch")
        freq.if_none_match = request.get("ifNoneMatch")
        freq.if_none_exist = request.get("ifNoneExist")
        freq.if_modified_since = request.get("ifModifiedSince")
        freq.prefer_handling = outer.prefer_handling
        if method == "PATCH":
            try:
                freq.body, freq.content_type = _patch_body(i, raw.get("resource"), max_depth)
            except FhirError as exc:
                raise _name_entry(exc, i, raw.get("fullUrl")) from None
        elif method in ("POST", "PUT"):
            freq.body = raw.get("resource")
            if freq.body is None and freq.interaction != "operation":
                raise _fail(i, f"a {method} entry needs a resource")
        parsed.append(Entry(i, raw.get("fullUrl"), freq))
    return parsed


def entry_response(ctx: Context, outcome: Outcome, prefer: str | None) -> dict[str, Any]:
    status = f"{outcome.status} {http.HTTPStatus(outcome.status).phrase}"
    response: dict[str, Any] = {"status": status}
    stored = outcome.stored
    if stored is not None:
        if outcome.location:
            response["location"] = f"{stored.type}/{stored.id}/_history/{stored.version}"
        response["etag"] = stored.etag
        response["lastModified"] = instant(stored.last_updated)
    entry: dict[str, Any] = {}
    if stored is not None and stored.resource is not None:
        entry["fullUrl"] = f"{ctx.base_url}/{stored.type}/{stored.id}"
    if prefer == "OperationOutcome" and outcome.issues:
        response["outcome"] = operation_outcome(outcome.issues)
    elif prefer != "minimal" and outcome.body is not None:
        entry["resource"] = outcome.body
    entry["response"] = response
    return entry


def error_entry(exc: FhirError) -> dict[str, Any]:
    return {
        "response": {
            "status": f"{exc.status} {http.HTTPStatus(exc.status).phrase}",
            "outcome": operation_outcome(exc.outcome_issues()),
        }
    }


async def process(ctx: Context, req: FhirRequest, handle: EntryHandler) -> Outcome:
    """A batch or transaction; ``handle`` runs each entry (``dispatch.handle``)."""
    bundle = req.body
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("POST [base] takes a Bundle", msg_id="MRTC-BNDL-004")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise InvalidRequest(
            f"Bundle.type must be batch or transaction, not '{kind}'",
            expression=("Bundle.type",),
            msg_id="MRTC-BNDL-005",
        )
    issues = check_bundle(bundle, ctx.settings.max_depth)
    if issues:
        raise InvalidResource("The Bundle is invalid", issues=issues, msg_id=MSG_STRUCTURE)
    if kind == "batch":
        return await _batch(ctx, bundle, req, handle)
    return await _transaction(ctx, bundle, req, handle)


async def _batch(
    ctx: Context, bundle: dict[str, Any], req: FhirRequest, handle: EntryHandler
) -> Outcome:
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raw_entries = []
    bundle_references.refuse_duplicates(raw_entries)
    owner = {
        raw["fullUrl"]: i
        for i, raw in enumerate(raw_entries)
        if isinstance(raw, dict) and isinstance(raw.get("fullUrl"), str) and raw["fullUrl"]
    }
    parsed: dict[int, Entry] = {}
    failed: dict[int, FhirError] = {}
    for i, raw in enumerate(raw_entries):
        try:
            (entry,) = parse_entries(ctx, {"entry": [raw]}, req)
            entry.index = i
            parsed[i] = entry
        except FhirError as exc:
            failed[i] = exc
    scans = {i: _scan(ctx, e, set(owner)) for i, e in parsed.items()}
    for i, refs in scans.items():
        if refs.unknown_placeholders:
            failed[i] = bundle_references.unknown_placeholder_error(refs)
    order, cyclic = bundle_references.dependency_order(
        [scans.get(i) or EntryRefs(i, None) for i in range(len(raw_entries))], owner
    )
    for i in sorted(cyclic):
        failed.setdefault(i, _cycle_error(scans[i], owner, cyclic))
    out: dict[int, dict[str, Any]] = {}
    resolved: dict[str, str] = {}
    for i in order:
        if i not in failed:
            try:
                outcome = await _run_batch_entry(
                    ctx, parsed[i], scans[i], owner, failed, resolved, handle
                )
                out[i] = entry_response(ctx, outcome, req.prefer_return)
                continue
            except FhirError as exc:
                failed[i] = exc
        out[i] = error_entry(failed[i])
    for i in cyclic:
        out[i] = error_entry(failed[i])
    entries = [out[i] for i in range(len(raw_entries))]
    return Outcome(200, {"resourceType": "Bundle", "type": "batch-response", "entry": entries})


async def _run_batch_entry(
    ctx: Context,
    entry: Entry,
    refs: EntryRefs,
    owner: dict[str, int],
    failed: dict[int, FhirError],
    resolved: dict[str, str],
    handle: EntryHandler,
) -> Outcome:
    """One batch entry, after the entries it references; records the id it got."""
    for url, found in sorted(refs.internal.items()):
        j = owner[url]
        if j in failed:
            where = found[0].location
            raise FailedDependency(
                f"{where}: not processed: it references {url}, the fullUrl of "
                f"Bundle.entry[{j}], which failed ({failed[j].status} "
                f"{http.HTTPStatus(failed[j].status).phrase})",
                expression=(where,),
                msg_id="MRTC-BNDL-013",
            )
    freq = entry.request
    if freq.interaction == "create" and freq.type and entry.full_url:
        freq.assigned_id = new_id()  # so that a reference to itself resolves
        resolved[entry.full_url] = f"{freq.type}/{freq.assigned_id}"
    await bundle_references.resolve_conditional(ctx, refs, resolved)
    bundle_references.rewrite(refs, resolved)
    outcome: Outcome = await handle(ctx, freq)
    if outcome.stored is not None and entry.full_url:
        resolved[entry.full_url] = f"{outcome.stored.type}/{outcome.stored.id}"
    return outcome


def _cycle_error(refs: EntryRefs, owner: dict[str, int], cyclic: set[int]) -> FhirError:
    others = sorted({owner[u] for u in refs.depends_on if owner.get(u) in cyclic} - {refs.index})
    names = ", ".join(f"Bundle.entry[{j}]" for j in others) or "other entries"
    return InvalidRequest(
        f"Bundle.entry[{refs.index}] is in, or depends on, a reference cycle with {names}: "
        "a batch writes its entries one at a time, so entries that reference each other "
        "need a transaction",
        expression=(f"Bundle.entry[{refs.index}]",),
        msg_id="MRTC-BNDL-014",
    )


def _scan(ctx: Context, e: Entry, full_urls: set[str]) -> EntryRefs:
    """The bundle-internal and conditional references of a create or update entry."""
    body = e.request.body if e.request.interaction in _WRITES else None
    return bundle_references.scan(e.index, e.full_url, body, full_urls, ctx.base_url)


_WRITES = frozenset({"create", "update", "conditional-update"})


async def _transaction(
    ctx: Context, bundle: dict[str, Any], req: FhirRequest, handle: EntryHandler
) -> Outcome:
    raw_entries = bundle.get("entry")
    if isinstance(raw_entries, list):
        bundle_references.refuse_duplicates(raw_entries)
    template = parse_entries(ctx, bundle, req)
    full_urls = {e.full_url for e in template if e.full_url}
    for e in template:
        refs = _scan(ctx, e, full_urls)
        if refs.unknown_placeholders:
            raise _name_entry(
                bundle_references.unknown_placeholder_error(refs), e.index, e.full_url
            )
    targets: set[str] = set()
    for e in template:
        if e.request.type and e.request.id and e.request.method in ("PUT", "DELETE", "PATCH"):
            key = f"{e.request.type}/{e.request.id}"
            if key in targets:
                raise _fail(e.index, f"{key} is the target of more than one entry")
            targets.add(key)

    async def run(tx: Context) -> list[dict[str, Any]]:
        entries = parse_entries(tx, orjson.loads(orjson.dumps(bundle)), req)  # fresh per attempt
        results: dict[int, Outcome] = {}
        resolved: dict[str, str] = {}
        ordered = sorted(entries, key=lambda e: ORDER[e.request.method])
        tx = replace(tx, pending_references=[])  # checked once every entry is written
        for e in ordered:
            if e.request.method == "DELETE":
                results[e.index] = await _at(e, handle(_entry_ctx(tx, e), e.request))
        for e in entries:
            await _at(e, _assign_identity(tx, e, resolved, results))
        scans = {e.index: _scan(tx, e, full_urls) for e in entries}
        for e in entries:
            await _at(e, bundle_references.resolve_conditional(tx, scans[e.index], resolved))
        for e in entries:
            bundle_references.rewrite(scans[e.index], resolved)
        await bundle_reads.read_ahead(tx, [e.request for e in entries if e.index not in results])
        for e in ordered:
            if e.index not in results:
                results[e.index] = await _at(e, handle(_entry_ctx(tx, e), e.request))
        await references.verify(tx, tx.pending_references or [])
        return [entry_response(tx, results[e.index], req.prefer_return) for e in entries]

    out = await in_transaction(ctx, run)
    return Outcome(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": out})


async def _assign_identity(
    tx: Context, e: Entry, resolved: dict[str, str], results: dict[int, Outcome]
) -> None:
    """Give each POST (and conditional PUT) its final id before references are rewritten."""
    freq = e.request
    if freq.method == "POST" and freq.interaction == "create":
        assert freq.type is not None
        condition = strip_type(freq.type, freq.if_none_exist)
        if condition is not None:
            existing = await find_existing(tx, freq.type, condition)
            if existing is not None and existing.stored is not None:
                results[e.index] = existing
                if e.full_url:
                    resolved[e.full_url] = f"{freq.type}/{existing.stored.id}"
                return
            freq.condition_resolved = True
        freq.assigned_id = new_id()
        if e.full_url:
            resolved[e.full_url] = f"{freq.type}/{freq.assigned_id}"
    elif freq.method == "PUT" and freq.interaction == "conditional-update":
        assert freq.type is not None
        matches = await find_matches(tx, freq.type, freq.query_string)
        target = matches[0].id if len(matches) == 1 else new_id()
        if isinstance(freq.body, dict) and len(matches) <= 1:
            freq.body.setdefault("id", target)
        if e.full_url:
            resolved[e.full_url] = f"{freq.type}/{freq.body.get('id', target)}"
    elif freq.method == "PUT" and freq.type and freq.id and e.full_url:
        resolved[e.full_url] = f"{freq.type}/{freq.id}"


def _entry_ctx(tx: Context, e: Entry) -> Context:
    """The context an entry is written in: the bundle's, naming the entry for its checks."""
    return replace(tx, bundle_entry=f"Bundle.entry[{e.index}]")


async def _at(e: Entry, step: Awaitable[T]) -> T:
    """Await one entry's step; a failure names the entry and keeps its HTTP status."""
    try:
        return await step
    except FhirError as exc:
        raise _name_entry(exc, e.index, e.full_url) from None


def _name_entry(exc: FhirError, index: int, full_url: str | None) -> FhirError:
    """Say which entry failed, keeping the error's class (and so its HTTP status)."""
    where = f"Bundle.entry[{index}]" + (f" ({full_url})" if full_url else "")
    exc.issues = [
        Issue(
            i.severity,
            i.code,
            f"{where}: {i.diagnostics}",
            (f"Bundle.entry[{index}]", *i.expression),
            i.msg_id,
        )
        for i in exc.outcome_issues()
    ]
    return exc
