"""The audit trail's group commit: what arrives during a write goes in the next one."""

from __future__ import annotations

import asyncio

import pytest

from fhir_server.security.audit import GroupCommit

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_lone_item_is_written_at_once_and_concurrent_ones_share_writes() -> None:
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.01)  # a commit in flight: others queue meanwhile
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    assert await group.submit(1) == 10
    assert batches == [[1]]
    results = await asyncio.gather(*(group.submit(i) for i in range(2, 12)))
    assert results == [i * 10 for i in range(2, 12)]
    assert sum(len(b) for b in batches) == 11  # every item written exactly once
    assert len(batches) < 11  # and several of them together


async def test_a_failed_write_fails_every_request_waiting_on_it() -> None:
    async def write(items: list[int]) -> list[int]:
        raise RuntimeError("database gone")

    group: GroupCommit[int, int] = GroupCommit(write)
    outcomes = await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_batches_are_bounded() -> None:
    sizes: list[int] = []

    async def write(items: list[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return items

    group: GroupCommit[int, int] = GroupCommit(write, max_items=3)
    await asyncio.gather(*(group.submit(i) for i in range(10)))
    assert max(sizes) <= 3 and sum(sizes) == 10
