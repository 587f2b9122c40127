"""The access restriction is applied by storage on every path, before paging.

The security policy hands storage a ``Restriction`` (search criteria per
type). These tests give a context one directly and check that no path a FHIR
client can take returns what a read under the same restriction refuses:
search, paging totals, ``_include``/``_revinclude``, chains, ``_has``,
conditional matches, read, vread and history at every level.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio

from fhir_server.interactions.context import Context
from fhir_server.interactions.history import history
from fhir_server.interactions.read import read
from fhir_server.interactions.search import find_matches, parse, search
from fhir_server.interactions.vread import vread
from fhir_server.search.restriction import TypeRestriction
from tests.conftest import AppClient, make_settings
from tests.search.conftest import store

pytestmark = pytest.mark.asyncio(loop_scope="session")
BASE = "http://test.example/fhir"


def patient(id_: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id_, "name": [{"family": family}]}


def weight(id_: str, subject: str, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": value, "unit": "kg"},
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ctx(mongo_uri: str) -> AsyncIterator[Context]:
    server = AppClient(make_settings(mongo_uri))
    async with server:
        open_ctx = Context.for_request(server.app.state.services, BASE)
        await store(
            open_ctx,
            patient("seen", "Visible"),
            patient("hidden", "Cachée"),
            weight("w-seen", "Patient/seen", 30),
            weight("w-hidden", "Patient/hidden", 40),
        )
        await store(open_ctx, patient("hidden", "Cachée-2"))  # a second version
        yield open_ctx


def restricted(ctx: Context) -> Context:
    """The caller may see patient ``seen`` and the observations about them, nothing else."""

    def clauses(type_: str, query: list[tuple[str, str]]) -> list[Any]:
        return parse(ctx, type_, query, strict=True).clauses

    restriction = TypeRestriction(
        {
            "Patient": clauses("Patient", [("_id", "seen")]),
            "Observation": clauses("Observation", [("subject", "Patient/seen")]),
        }
    )
    return replace(ctx, scope=replace(ctx.scope, restriction=restriction))


def ids(bundle: dict[str, Any], mode: str | None = None) -> list[str]:
    return sorted(
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if mode is None or e["search"]["mode"] == mode
    )


async def test_unrestricted_sees_everything(ctx: Context) -> None:
    assert ids(await search(ctx, "Patient", [])) == ["hidden", "seen"]
    assert ids(await search(ctx, "Observation", [])) == ["w-hidden", "w-seen"]


@pytest.mark.parametrize(
    ("type_", "query", "expected"),
    [
        ("Patient", [], ["seen"]),
        ("Patient", [("family", "cach")], []),
        ("Observation", [], ["w-seen"]),
        ("Observation", [("subject", "Patient/hidden")], []),
        ("Observation", [("subject.family", "cach")], []),  # chain
        ("Observation", [("subject.family", "vis")], ["w-seen"]),
        ("Patient", [("_has:Observation:subject:code", "29463-7")], ["seen"]),  # _has
    ],
)
async def test_search_paths(
    ctx: Context, type_: str, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert ids(await search(restricted(ctx), type_, query)) == expected


async def test_counts_and_totals(ctx: Context) -> None:
    r = restricted(ctx)
    assert (await search(r, "Patient", [("_summary", "count")]))["total"] == 1
    assert (await search(r, "Observation", [("_total", "accurate")]))["total"] == 1


async def test_includes(ctx: Context) -> None:
    r = restricted(ctx)
    # the chain target of a visible match is included only when visible itself
    bundle = await search(r, "Observation", [("_include", "Observation:subject")])
    assert ids(bundle, "include") == ["seen"]
    bundle = await search(r, "Patient", [("_revinclude", "Observation:subject")])
    assert ids(bundle, "include") == ["w-seen"]
    # the unrestricted caller's page of the same search shows both
    bundle = await search(ctx, "Patient", [("_revinclude", "Observation:subject")])
    assert ids(bundle, "include") == ["w-hidden", "w-seen"]


async def test_conditional_matches(ctx: Context) -> None:
    assert [m.id for m in await find_matches(restricted(ctx), "Patient", "family=cach")] == []


async def test_read_and_vread(ctx: Context) -> None:
    r = restricted(ctx)
    assert (await read(r, "Patient", "seen")).status == 200
    with pytest.raises(Exception) as refused:
        await read(r, "Patient", "hidden")
    assert getattr(refused.value, "status", None) == 404
    with pytest.raises(Exception) as refused:
        await vread(r, "Patient", "hidden", 1)
    assert getattr(refused.value, "status", None) == 404


async def test_history_at_every_level(ctx: Context) -> None:
    r = restricted(ctx)

    def entries(bundle: dict[str, Any]) -> list[str]:
        return sorted(
            e["fullUrl"].rsplit("/", 2)[-2] + "/" + e["fullUrl"].rsplit("/", 1)[-1]
            for e in bundle["entry"]
        )

    system = (await history(r, None, None, [])).body or {}
    assert "Patient/hidden" not in entries(system)
    assert "Observation/w-hidden" not in entries(system)
    assert "Patient/seen" in entries(system)
    typed = (await history(r, "Patient", None, [])).body or {}
    assert entries(typed) == ["Patient/seen"]
    with pytest.raises(Exception) as refused:
        await history(r, "Patient", "hidden", [])
    assert getattr(refused.value, "status", None) == 404
