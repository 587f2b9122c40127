"""The repository seam, through its protocol, on the server's own storage.

Versions are recorded atomically with their history entry, optimistic
concurrency refuses a stale writer, a transaction is all or nothing, history
pages with the same cursor as search, and the condition key of a race-free
create is held only by the resource that carries it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from fhir_server.errors import VersionConflict
from fhir_server.interactions.write import stamp
from fhir_server.storage.repository import (
    Change,
    HistoryQuery,
    ReadScope,
    Repository,
    StoredResource,
    now,
)
from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def repository(mongo_uri: str) -> AsyncIterator[Repository]:
    server = AppClient(make_settings(mongo_uri))
    async with server:
        yield server.app.state.services.repository


def basic(text: str) -> dict[str, Any]:
    return {"resourceType": "Basic", "code": {"text": text}}


async def put(
    repository: Repository,
    id_: str,
    resource: dict[str, Any] | None,
    previous: int | None,
    *,
    when: datetime | None = None,
    key: str | None = None,
) -> StoredResource:
    when = when or now()
    version = (previous or 0) + 1
    body = stamp(resource, id_, version, when) if resource is not None else None
    change = Change("Basic", id_, version, previous, when, body, "PUT", key)

    async def write(scope: ReadScope) -> StoredResource:
        return await repository.write(change, scope)

    return await repository.transaction(write, ReadScope())


async def test_versions_are_read_back_current_and_past(repository: Repository) -> None:
    await put(repository, "r1", basic("one"), None)
    await put(repository, "r1", basic("two"), 1)
    current = await repository.read("Basic", "r1", ReadScope())
    assert current is not None and current.version == 2
    assert current.resource is not None and current.resource["code"]["text"] == "two"
    first = await repository.read_version("Basic", "r1", 1, ReadScope())
    assert first is not None and first.resource is not None
    assert first.resource["code"]["text"] == "one" and first.method == "PUT"
    assert await repository.read_version("Basic", "r1", 3, ReadScope()) is None
    assert await repository.read("Basic", "never", ReadScope()) is None


async def test_a_stale_writer_is_refused(repository: Repository) -> None:
    await put(repository, "r2", basic("a"), None)
    await put(repository, "r2", basic("b"), 1)
    with pytest.raises(VersionConflict):
        await put(repository, "r2", basic("c"), 1)  # replaces a version that is gone
    with pytest.raises(VersionConflict):
        await put(repository, "r2", basic("d"), None)  # a new resource with a taken id


async def test_a_transaction_is_all_or_nothing(repository: Repository) -> None:
    class Abort(Exception):
        pass

    async def two_writes(scope: ReadScope) -> None:
        when = now()
        await repository.write(
            Change("Basic", "t1", 1, None, when, stamp(basic("x"), "t1", 1, when), "POST"), scope
        )
        raise Abort

    with pytest.raises(Abort):
        await repository.transaction(two_writes, ReadScope())
    assert await repository.read("Basic", "t1", ReadScope()) is None
    assert await repository.read_version("Basic", "t1", 1, ReadScope()) is None


async def test_a_deletion_is_a_version(repository: Repository) -> None:
    await put(repository, "r3", basic("a"), None)
    gone = await put(repository, "r3", None, 1)
    assert gone.deleted and gone.version == 2
    current = await repository.read("Basic", "r3", ReadScope())
    assert current is not None and current.deleted
    live = await repository.find("Basic", [], 100, ReadScope(), base_url="")
    assert "r3" not in {r.id for r in live} and "r1" in {r.id for r in live}


async def test_history_pages_newest_first_without_gaps_or_repeats(repository: Repository) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for i in range(7):  # two versions share an instant: the version key breaks the tie
        await put(
            repository, "h1", basic(str(i)), i or None, when=start + timedelta(seconds=i // 2)
        )
    seen: list[int] = []
    cursor = None
    while True:
        page = await repository.history(
            HistoryQuery("Basic", "h1", cursor=cursor, count=3), ReadScope()
        )
        seen += [v.version for v in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    since = await repository.history(
        HistoryQuery("Basic", "h1", since=start + timedelta(seconds=3), count=10), ReadScope()
    )
    assert [v.version for v in since.items] == [7]


async def test_a_condition_key_is_held_once(repository: Repository) -> None:
    await put(repository, "k1", basic("a"), None, key="Basic?identifier=x")
    with pytest.raises(Exception) as lost:  # the key is taken: the writer must re-run
        await put(repository, "k2", basic("b"), None, key="Basic?identifier=x")
    assert type(lost.value).__name__ in ("RetryableWrite", "VersionConflict")
    await put(repository, "k1", basic("a2"), 1)  # an update releases the key ...
    await put(repository, "k2", basic("b"), None, key="Basic?identifier=x")  # ... for another
