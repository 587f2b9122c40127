"""The write pipeline shared by create, update, patch and bundle entries.

Every write goes through ``prepare`` (structure, type hooks, profiles, index
values) and then through ``in_transaction``, so the same steps run whether a
resource arrives alone or inside a transaction bundle.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fhir_server.errors import InvalidRequest, PreconditionFailed
from fhir_server.interactions import references
from fhir_server.interactions.context import Context
from fhir_server.profiles.structure import check_structure
from fhir_server.resources.hooks import AfterCommit, WriteEvent
from fhir_server.storage.repository import Change, ReadScope, StoredResource, instant, now

T = TypeVar("T")
log = logging.getLogger(__name__)


def new_id() -> str:
    return str(uuid.uuid4())


async def prepare(ctx: Context, type_: str, body: Any) -> dict[str, Any]:
    """Validate and normalise a resource before it is stored.

    Runs outside the database transaction where possible: it is pure CPU,
    and a type's ``normalise`` hook must not have effects (see
    ``resources.hooks``).
    """
    max_depth = ctx.settings.max_depth
    resource = check_structure(type_, body, max_depth=max_depth)
    services = ctx.services
    resource = await services.hooks.normalise(type_, resource, ctx.scope)
    if services.hooks.registered(type_):  # what is stored is what was validated
        resource = check_structure(type_, resource, max_depth=max_depth)
    references.check_format(ctx, type_, resource)  # 400 naming the element
    services.profiles.check_write(resource)  # 422 with one issue per violated rule
    return resource


async def save(
    ctx: Context,
    type_: str,
    id_: str,
    body: dict[str, Any],
    *,
    previous: StoredResource | None,
    condition_key: str | None = None,
) -> StoredResource:
    """An operation's own write: ``body`` checked as a request's would be (``prepare``), then
    stored as a create (no ``previous``) or as the version after ``previous``."""
    return await store(
        ctx,
        type_,
        id_,
        await prepare(ctx, type_, body),
        previous=previous,
        method="POST" if previous is None else "PUT",
        condition_key=condition_key,
    )


def stamp(resource: dict[str, Any], id_: str, version: int, last_updated: Any) -> dict[str, Any]:
    """The JSON to store and serve: id and meta set by the server, keys in FHIR order."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = instant(last_updated)
    out: dict[str, Any] = {"resourceType": resource["resourceType"], "id": id_, "meta": meta}
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


async def store(
    ctx: Context,
    type_: str,
    id_: str,
    resource: dict[str, Any] | None,
    *,
    previous: StoredResource | None,
    method: str,
    condition_key: str | None = None,
    check_references: bool = True,
) -> StoredResource:
    """Write the next version of ``type_/id_`` inside the context's transaction.

    The type's ``effects`` hooks run in the same transaction; its
    ``after_commit`` hooks are queued for when the transaction commits. New
    local references are checked to exist, in the same transaction;
    ``check_references=False`` is for the server's own content (the IG at start-up).
    """
    if ctx.after_commit is None or not ctx.in_transaction:
        raise RuntimeError("store() must run inside in_transaction(): versions need a session")
    services = ctx.services
    await services.policy.check_write(ctx.principal, ctx.scope, type_, id_, resource, previous)
    version = (previous.version + 1) if previous else 1
    when = now()
    stored_json = stamp(resource, id_, version, when) if resource is not None else None
    change = Change(
        type=type_,
        id=id_,
        version=version,
        previous=previous.version if previous else None,
        last_updated=when,
        resource=stored_json,
        method=method,
        condition_key=condition_key,
    )
    stored = await ctx.services.repository.write(change, ctx.scope)
    if check_references:  # after the write: a resource may point at itself
        await references.check_targets_exist(
            ctx, stored_json, previous.resource if previous else None
        )
    event = WriteEvent(type_, id_, stored_json, previous, method, ctx.actor())
    await ctx.services.hooks.effects(event, ctx.scope)
    ctx.after_commit.extend(ctx.services.hooks.after_commit(event))
    return stored


async def in_transaction(ctx: Context, fn: Callable[[Context], Awaitable[T]]) -> T:
    """Run ``fn`` in the caller's transaction, or in a new one (retried on races).

    A new transaction runs its after-commit actions once it has committed,
    and only the actions of the attempt that committed.
    """
    if ctx.in_transaction:
        return await fn(ctx)
    committed: list[list[AfterCommit]] = [[]]

    async def run(scope: ReadScope) -> T:
        pending: list[AfterCommit] = []
        committed[0] = pending
        return await fn(ctx.within(scope, pending))

    result = await ctx.services.repository.transaction(run, ctx.scope)
    for action in committed[0]:
        try:
            await action()
        except Exception:  # the write is committed: report, never turn it into a failure
            log.exception("an after-commit action failed")
    return result


def parse_if_match(value: str | None) -> int | None:
    """``W/"3"`` (or ``"3"``, or ``3``) -> 3; None when absent."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise InvalidRequest(
            f"If-Match '{value}' is not a version ETag like W/\"3\"", msg_id="MRTC-REST-030"
        )
    return int(text)


def check_if_match(
    type_: str, id_: str, expected: int | None, current: StoredResource | None
) -> None:
    if expected is None:
        return
    if current is None or current.deleted:
        raise PreconditionFailed(
            f'If-Match W/"{expected}" given but {type_}/{id_} does not exist',
            msg_id="MRTC-REST-031",
        )
    if current.version != expected:
        raise PreconditionFailed(
            f'If-Match W/"{expected}" does not match the current version '
            f'W/"{current.version}" of {type_}/{id_}',
            msg_id="MRTC-REST-032",
        )


def condition_key(type_: str, query: str) -> str:
    """Canonical text of a conditional-create condition, for the unique ``ck`` index."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return type_ + "?" + "&".join(f"{k}={v}" for k, v in pairs)
