"""Result control: paging links, _count, _sort, _total, _include/_revinclude."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import bson
import pytest

from fhir_server.errors import InvalidRequest, TooCostly, UnsupportedParameter
from fhir_server.interactions.context import Context
from fhir_server.interactions.delete import delete
from fhir_server.interactions.search import search
from fhir_server.storage import paging as storage_paging
from tests.search.conftest import BASE, ids_of, store

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", autouse=True)
async def data(ctx: Context) -> None:
    await store(ctx, {"resourceType": "Organization", "id": "org1", "name": "Centre"})
    patients = [
        {
            "resourceType": "Patient",
            "id": f"p{i:02d}",
            "name": [{"family": f"Fam{i % 4}"}],
            "birthDate": f"{2000 + i % 7}-01-01",
            "managingOrganization": {"reference": "Organization/org1"},
        }
        for i in range(23)
    ]
    await store(ctx, *patients)
    await store(
        ctx,
        *[
            {
                "resourceType": "Observation",
                "id": f"o{i:02d}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "subject": {"reference": f"Patient/p{i % 3:02d}"},
                "effectiveDateTime": f"2020-01-{i + 1:02d}",
            }
            for i in range(9)
        ],
    )


def params_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)


def link(bundle: dict[str, Any], rel: str) -> str | None:
    return next((x["url"] for x in bundle["link"] if x["relation"] == rel), None)


async def follow(ctx: Context, url: str) -> dict[str, Any]:
    assert url.startswith(BASE + "/Patient?")
    return await search(ctx, "Patient", params_of(url))


async def test_pages_cover_everything_once_with_absolute_links(ctx: Context) -> None:
    bundle = await search(ctx, "Patient", [("_count", "5"), ("_sort", "family")])
    assert link(
        bundle,
        "self",
    ).startswith(BASE + "/Patient?")  # type: ignore[union-attr]
    assert link(bundle, "previous") is None
    seen = ids_of(bundle)
    pages = 1
    while (nxt := link(bundle, "next")) is not None:
        bundle = await follow(ctx, nxt)
        seen += ids_of(bundle)
        pages += 1
    assert pages == 5
    assert sorted(seen) == [f"p{i:02d}" for i in range(23)]
    assert len(seen) == len(set(seen))


async def test_sort_orders_by_several_keys(ctx: Context) -> None:
    bundle = await search(ctx, "Patient", [("_sort", "-family,birthdate"), ("_count", "100")])
    res = [e["resource"] for e in bundle["entry"]]
    keys = [(r["name"][0]["family"], r["birthDate"], r["id"]) for r in res]
    expected = sorted(keys, key=lambda k: (k[1], k[2]))
    expected = sorted(expected, key=lambda k: k[0], reverse=True)
    assert keys == expected


async def test_previous_link_walks_back(ctx: Context) -> None:
    first = await search(ctx, "Patient", [("_count", "4"), ("_sort", "-birthdate")])
    second = await follow(ctx, link(first, "next"))  # type: ignore[arg-type]
    third = await follow(ctx, link(second, "next"))  # type: ignore[arg-type]
    back = await follow(ctx, link(third, "previous"))  # type: ignore[arg-type]
    assert ids_of(back) == ids_of(second)
    back2 = await follow(ctx, link(back, "previous"))  # type: ignore[arg-type]
    assert ids_of(back2) == ids_of(first)
    assert link(back2, "previous") is None


async def test_paging_stays_correct_while_data_changes(ctx: Context) -> None:
    first = await search(ctx, "Observation", [("_count", "3"), ("code", "29463-7")])
    shown = ids_of(first)
    # a resource is created before the cursor and one after it; one not yet shown is deleted
    await store(
        ctx,
        {
            "resourceType": "Observation",
            "id": "o00a",
            "status": "final",
            "code": {"coding": [{"code": "29463-7"}]},
        },
    )
    o05 = (await ctx.services.repository.read("Observation", "o05", ctx.scope)).resource
    await delete(ctx, "Observation", "o05")
    rest: list[str] = []
    bundle = first
    while (nxt := link(bundle, "next")) is not None:
        bundle = await search(ctx, "Observation", params_of(nxt))
        rest += ids_of(bundle)
    await store(ctx, o05)
    await delete(ctx, "Observation", "o00a")
    assert not set(shown) & set(rest)
    assert "o05" not in rest and "o00a" not in rest  # o00a sorts before the cursor
    assert sorted(shown + rest) == [f"o{i:02d}" for i in range(9) if i != 5]


async def test_count_is_clamped_and_zero_means_count_only(ctx: Context) -> None:
    bundle = await search(ctx, "Patient", [("_count", "0")])
    assert bundle["total"] == 23 and "entry" not in bundle
    with pytest.raises(InvalidRequest):
        await search(ctx, "Patient", [("_count", "-1")])
    with pytest.raises(InvalidRequest):
        await search(ctx, "Patient", [("_count", "lots")])
    big = await search(ctx, "Patient", [("_count", "100000")])
    assert ("_count", "1000") in params_of(link(big, "self"))  # type: ignore[arg-type]


async def test_total_is_not_counted_unless_asked(ctx: Context) -> None:
    assert "total" not in await search(ctx, "Patient", [("_count", "2")])
    assert (await search(ctx, "Patient", [("_count", "2"), ("_total", "accurate")]))["total"] == 23
    assert (await search(ctx, "Patient", [("family", "fam1"), ("_total", "estimate")]))[
        "total"
    ] == 6
    assert "total" not in await search(ctx, "Patient", [("_count", "2"), ("_total", "none")])


async def test_include_and_revinclude(ctx: Context) -> None:
    bundle = await search(
        ctx, "Observation", [("_id", "o00,o01"), ("_include", "Observation:subject")]
    )
    assert sorted(ids_of(bundle)) == ["o00", "o01"]
    assert sorted(ids_of(bundle, "include")) == ["p00", "p01"]
    bundle = await search(ctx, "Patient", [("_id", "p00"), ("_revinclude", "Observation:subject")])
    assert ids_of(bundle) == ["p00"]
    assert sorted(ids_of(bundle, "include")) == ["o00", "o03", "o06"]
    typed = await search(
        ctx, "Observation", [("_id", "o00"), ("_include", "Observation:subject:Group")]
    )
    assert ids_of(typed, "include") == []


async def test_include_iterate_follows_included_resources(ctx: Context) -> None:
    bundle = await search(
        ctx,
        "Observation",
        [
            ("_id", "o00"),
            ("_include", "Observation:subject"),
            ("_include:iterate", "Patient:organization"),
        ],
    )
    assert sorted(ids_of(bundle, "include")) == ["org1", "p00"]
    without = await search(
        ctx,
        "Observation",
        [("_id", "o00"), ("_include", "Observation:subject"), ("_include", "Patient:organization")],
    )
    assert sorted(ids_of(without, "include")) == ["p00"]


async def test_include_fan_out_is_bounded(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctx.settings.search, "max_include", 2)
    with pytest.raises(TooCostly):
        await search(ctx, "Patient", [("_id", "p00"), ("_revinclude", "Observation:subject")])


async def test_invalid_include_is_an_error(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "Observation", [("_include", "Observation:status")])
    with pytest.raises(InvalidRequest):
        await search(ctx, "Observation", [("_include", "Nope:subject")])


async def test_unknown_params_are_reported_and_left_out_of_self_link(ctx: Context) -> None:
    bundle = await search(ctx, "Patient", [("family", "fam1"), ("foo", "bar")])
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    issue = outcome[0]["resource"]["issue"][0]
    assert issue["severity"] == "warning" and "foo" in issue["diagnostics"]
    self_params = params_of(link(bundle, "self"))  # type: ignore[arg-type]
    assert ("family", "fam1") in self_params
    assert all(name != "foo" for name, _ in self_params)
    with pytest.raises(UnsupportedParameter):
        await search(ctx, "Patient", [("family", "fam1"), ("foo", "bar")], strict=True)


async def test_forged_cursor_is_rejected(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "Patient", [("_cursor", "eyJ$bad")])
    forged = base64.urlsafe_b64encode(
        bson.encode({"k": [], "i": {"$gt": ""}, "f": True, "t": 0})
    ).decode()
    with pytest.raises(InvalidRequest):
        await search(ctx, "Patient", [("_cursor", forged)])


async def test_system_search_with_type(ctx: Context) -> None:
    bundle = await search(ctx, None, [("_type", "Organization,Observation"), ("_count", "4")])
    first = [e["fullUrl"] for e in bundle["entry"]]
    assert first[0] == f"{BASE}/Organization/org1"
    assert link(bundle, "self").startswith(BASE + "?")  # type: ignore[union-attr]
    seen = list(first)
    while (nxt := link(bundle, "next")) is not None:
        bundle = await search(ctx, None, params_of(nxt))
        seen += [e["fullUrl"] for e in bundle["entry"]]
    assert len(seen) == 10 and len(set(seen)) == 10
    with pytest.raises(UnsupportedParameter):
        await search(ctx, None, [("_type", "Patient,Observation"), ("_sort", "_lastUpdated")])


async def test_system_search_pages_back_across_types(ctx: Context) -> None:
    query = [("_type", "Organization,Observation,Patient"), ("_count", "7")]
    pages = [await search(ctx, None, query)]
    while (nxt := link(pages[-1], "next")) is not None:
        pages.append(await search(ctx, None, params_of(nxt)))
    urls = [[e["fullUrl"] for e in p["entry"]] for p in pages]
    assert sum(len(u) for u in urls) == 1 + 9 + 23
    for i in range(len(pages) - 1, 0, -1):
        back = await search(ctx, None, params_of(link(pages[i], "previous")))  # type: ignore[arg-type]
        assert [e["fullUrl"] for e in back["entry"]] == urls[i - 1]


@pytest.mark.parametrize("windowed", [True, False])
async def test_id_order_pages_are_the_same_with_and_without_id_windows(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, windowed: bool
) -> None:
    monkeypatch.setattr(ctx.settings.search, "windowed_paging", windowed)
    ids = (
        [f"a{i}" for i in range(15)]
        + [f"zz-cluster-long-prefix-{i:03d}" for i in range(12)]
        + ["0", "9.9", "M-x", "b", "y" * 64]
        + [f"{i:04d}-uuidish-{i * 7919 % 9973:x}" for i in range(0, 4000, 250)]
    )
    if await ctx.services.repository.read("Basic", ids[0], ctx.scope) is None:
        await store(ctx, *[{"resourceType": "Basic", "id": i, "code": {"text": "w"}} for i in ids])
    bundle = await search(ctx, "Basic", [("code:text", "w"), ("_count", "4")])
    seen = ids_of(bundle)
    while (nxt := link(bundle, "next")) is not None:
        bundle = await search(ctx, "Basic", params_of(nxt))
        seen += ids_of(bundle)
    assert seen == sorted(ids)


@pytest.mark.parametrize("count", ["1", "4", "100"])
async def test_first_pages_read_through_id_windows_are_the_same(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, count: str
) -> None:
    # every first page in id order goes through the id windows (storage.paging._first_window)
    monkeypatch.setattr(storage_paging, "FIRST_WINDOW_MIN_DOCS", 0)
    ids = (
        [f"a{i}" for i in range(15)]
        + [f"zz-cluster-long-prefix-{i:03d}" for i in range(12)]
        + ["0", "9.9", "M-x", "b", "y" * 64]
        + [f"{i:04d}-uuidish-{i * 7919 % 9973:x}" for i in range(0, 4000, 250)]
    )
    if await ctx.services.repository.read("Basic", ids[0], ctx.scope) is None:
        await store(ctx, *[{"resourceType": "Basic", "id": i, "code": {"text": "w"}} for i in ids])
    bundle = await search(ctx, "Basic", [("code:text", "w"), ("_count", count)])
    seen = ids_of(bundle)
    while (nxt := link(bundle, "next")) is not None:
        bundle = await search(ctx, "Basic", params_of(nxt))
        seen += ids_of(bundle)
    assert seen == sorted(ids)
    nothing = await search(ctx, "Basic", [("code:text", "no-such-text"), ("_count", count)])
    assert ids_of(nothing) == [] and link(nothing, "next") is None


async def test_a_window_with_more_documents_than_one_fetch_loses_none(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one equality (code) in the database filter, the author list checked in Python on
    # each window's documents: a window holding more than one fetch (200 documents here)
    # of which few pass must be read on, not skipped (storage.paging._window_docs)
    monkeypatch.setattr(storage_paging, "FIRST_WINDOW_MIN_DOCS", 0)
    ids = [f"wnd-{i:03d}" for i in range(300)]
    wanted = [i for n, i in enumerate(ids) if n % 60 == 7 or n > 290]
    if await ctx.services.repository.read("Basic", ids[0], ctx.scope) is None:
        await store(
            ctx,
            *[
                {
                    "resourceType": "Basic",
                    "id": i,
                    "code": {"coding": [{"system": "urn:test", "code": "window"}]},
                    "author": {
                        "reference": "Practitioner/kept" if i in wanted else "Practitioner/other"
                    },
                }
                for i in ids
            ],
        )
    for count in ("1", "3", "50"):
        query = [
            ("code", "urn:test|window"),
            ("author", "Practitioner/kept,Practitioner/also-kept"),
            ("_count", count),
        ]
        bundle = await search(ctx, "Basic", query)
        seen = ids_of(bundle)
        while (nxt := link(bundle, "next")) is not None:
            bundle = await search(ctx, "Basic", params_of(nxt))
            seen += ids_of(bundle)
        assert seen == wanted, count


@pytest.mark.parametrize("windowed", [True, False])
async def test_date_ranges_checked_on_a_windows_documents_lose_none(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, windowed: bool
) -> None:
    # one equality (code) asked of the database per window, the date bounds checked in
    # Python on the window's documents (storage.paging._range_check): same pages as the
    # database's own evaluation, with both bounds, partial dates and missing dates
    monkeypatch.setattr(storage_paging, "FIRST_WINDOW_MIN_DOCS", 0)
    monkeypatch.setattr(ctx.settings.search, "windowed_paging", windowed)
    days = {f"rng-{i:03d}": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(120)}
    days["rng-year"] = "2026"
    days["rng-none"] = ""
    if await ctx.services.repository.read("Basic", "rng-000", ctx.scope) is None:
        await store(
            ctx,
            *[
                {
                    "resourceType": "Basic",
                    "id": i,
                    "code": {"coding": [{"system": "urn:test", "code": "ranges"}]},
                    **({"created": day} if day else {}),
                }
                for i, day in days.items()
            ],
        )
    cases = {
        ("lt2026-04-01",): lambda d: bool(d) and d < "2026-04-01" and d != "2026",
        ("ge2026-06-15", "lt2026-09-01"): lambda d: "2026-06-15" <= d < "2026-09-01",
    }
    for bounds, wanted in cases.items():
        expected = sorted(i for i, d in days.items() if d and len(d) == 10 and wanted(d))
        # the year 2026 starts before April and ends after June 15 (range semantics)
        expected = sorted([*expected, "rng-year"])
        query = [("code", "urn:test|ranges"), *[("created", b) for b in bounds], ("_count", "7")]
        bundle = await search(ctx, "Basic", query)
        seen = ids_of(bundle)
        while (nxt := link(bundle, "next")) is not None:
            bundle = await search(ctx, "Basic", params_of(nxt))
            seen += ids_of(bundle)
        assert seen == expected, bounds


async def test_a_remembered_first_page_end_follows_changes_to_the_data(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a first page read again starts with a window reaching where the last one ended
    # (storage.paging._ends): resources created before that point, or deleted, change it
    monkeypatch.setattr(storage_paging, "FIRST_WINDOW_MIN_DOCS", 0)
    ids = [f"m{i:02d}" for i in range(0, 40, 2)]
    code = {"coding": [{"system": "urn:test", "code": "remembered"}]}
    await store(ctx, *[{"resourceType": "Basic", "id": i, "code": code} for i in ids])
    query = [("code", "urn:test|remembered"), ("_count", "5")]

    async def first_page() -> list[str]:
        return ids_of(await search(ctx, "Basic", query))

    async def every_page() -> list[str]:
        bundle = await search(ctx, "Basic", query)
        seen = ids_of(bundle)
        while (nxt := link(bundle, "next")) is not None:
            bundle = await search(ctx, "Basic", params_of(nxt))
            seen += ids_of(bundle)
        return seen

    assert await first_page() == ids[:5]
    assert await first_page() == ids[:5]  # read through the remembered window
    await store(ctx, *[{"resourceType": "Basic", "id": i, "code": code} for i in ("m01", "m05")])
    assert await first_page() == ["m00", "m01", "m02", "m04", "m05"]
    for gone in ("m00", "m01", "m02", "m04"):
        await delete(ctx, "Basic", gone)
    assert await first_page() == ["m05", "m06", "m08", "m10", "m12"]
    assert await every_page() == sorted({*ids, "m05"} - {"m00", "m02", "m04"})
