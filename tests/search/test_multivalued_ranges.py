"""A range on a multi-valued index field must hold for one and the same value.

MongoDB matches ``{f: {$gte: a, $lt: b}}`` on an array when some element is
>= a and some (possibly other) element is < b. A patient named both "Aaron"
and "Zed" must not be found by ``family=m``, with or without an index.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.interactions.context import Context
from tests.conftest import AppClient
from tests.search.conftest import store
from tests.search.test_basic_types import ids

pytestmark = pytest.mark.asyncio(loop_scope="session")


def two_names(id_: str, first: str, second: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": id_,
        "name": [{"family": first, "given": ["A"]}, {"family": second, "given": ["B"]}],
        "maritalStatus": {"text": f"{first} {second}"},
    }


@pytest.fixture(scope="module", autouse=True)
async def data(ctx: Context) -> None:
    await store(ctx, two_names("az", "Aaron", "Zed"), two_names("mm", "Martin", "Moreau"))


@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "index"])
async def test_string_prefix_needs_one_value_in_range(
    app: AppClient, ctx: Context, indexed: bool
) -> None:
    patients = app.app.state.storage.db["Patient"]
    if indexed:
        await ctx.services.repository.ensure_indexes(["Patient"])
    else:  # a deployment where the index is missing (dropped, or not yet built)
        for name in ("idx.family.n", "idx.name.n"):
            if name in await patients.index_information():
                await patients.drop_index(name)
    assert await ids(ctx, "Patient", [("family", "m")]) == ["mm"]
    assert await ids(ctx, "Patient", [("name", "mor")]) == ["mm"]
    assert await ids(ctx, "Patient", [("family", "z")]) == ["az"]
