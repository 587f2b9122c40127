"""Sorted pages read through windows of the sort key return exactly the plain query's pages.

``Observation?code=x&_sort=-date`` and ``_sort=(-)_lastUpdated`` are read
window by window (``storage.sorted_paging``); every page, forwards and
backwards, must be the one the plain keyset query gives, over data made to
trip a window: a dense cluster with ties, a sparse tail years away, periods
whose latest end is not their start, another code, deletions, resources
without the date. And the windowed query must actually be bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from pymongo import monitoring

from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
WEIGHT = "http://loinc.org|29463-7"


class Finds(monitoring.CommandListener):
    """The filters of the find commands sent to the Observation collection."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == "Observation":
            self.filters.append(dict(event.command.get("filter") or {}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


FINDS = Finds()


def _observation(i: int) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"w{i:03d}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/x"},
    }
    if i < 25:  # a dense cluster on one day, with ties (five per minute)
        obs["effectiveDateTime"] = f"2024-05-17T10:{i // 5:02d}:00Z"
    elif i < 40:  # a sparse tail over years
        obs["effectiveDateTime"] = f"{2003 + (i - 25)}-0{1 + i % 9}-1{i % 10}"
    elif i < 48:  # periods: sorted latest first on their end
        obs["effectivePeriod"] = {"start": f"2010-0{1 + i % 9}-01", "end": f"2023-0{1 + i % 9}-01"}
    elif i < 52:  # another code
        obs["code"] = {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}
        obs["effectiveDateTime"] = f"2024-05-17T10:0{i % 4}:30Z"
    elif i < 55:  # no date at all
        pass
    else:  # far future and far past
        obs["effectiveDateTime"] = "2090-01-01" if i % 2 else "1901-06-01"
    return obs


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(mongo_uri: str) -> AsyncIterator[AppClient]:
    monitoring.register(FINDS)  # before the app's client exists: it listens from the start
    server = AppClient(make_settings(mongo_uri))
    async with server as http:
        r = await http.put("/Patient/x", json={"resourceType": "Patient", "id": "x"})
        assert r.status_code == 201, r.text
        for i in range(60):
            r = await http.put(f"/Observation/w{i:03d}", json=_observation(i))
            assert r.status_code == 201, r.text
        for i in (3, 30):
            assert (await http.delete(f"/Observation/w{i:03d}")).status_code in (200, 204)
        yield server


async def _sweep(app: AppClient, query: str, windows: bool) -> list[list[str]]:
    """Every page forwards, then every page again following the previous links back."""
    app.app.state.storage.settings.sorted_windows = windows
    http = app.http
    assert http is not None
    pages: list[list[str]] = []
    bundles: list[dict[str, Any]] = []
    url: str | None = f"/Observation?{query}&_count=7"
    while url is not None and len(pages) < 30:
        r = await http.get(url)
        assert r.status_code == 200, r.text
        bundle = r.json()
        bundles.append(bundle)
        pages.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        nxt = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
        url = _local(nxt) if nxt else None
    back: list[list[str]] = []
    bundle = bundles[-1]
    while prev := next((x["url"] for x in bundle["link"] if x["relation"] == "previous"), None):
        r = await http.get(_local(prev))
        assert r.status_code == 200, r.text
        bundle = r.json()
        back.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        if len(back) > 30:
            break
    app.app.state.storage.settings.sorted_windows = True
    return [*pages, ["--back--"], *back]


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize(
    "query",
    [f"code={WEIGHT}&_sort=-date", "_sort=_lastUpdated", "_sort=-_lastUpdated"],
)
async def test_windowed_pages_are_the_plain_pages(app: AppClient, query: str) -> None:
    windowed = await _sweep(app, query, True)
    plain = await _sweep(app, query, False)
    assert windowed == plain
    forward = windowed[: windowed.index(["--back--"])]
    shown = [i for page in forward for i in page]
    assert len(shown) == len(set(shown))  # nothing twice
    assert "w003" not in shown and "w030" not in shown  # deleted
    if query.startswith("code"):
        assert not {"w048", "w049", "w050", "w051"} & set(shown)  # the other code
        assert shown[:3] == ["w055", "w057", "w059"]  # 2090 first
        assert shown[-2:] == ["w056", "w058"]  # 1901 last among the dated (ties by id)
    else:
        assert len(shown) == 58
        if query == "_sort=_lastUpdated":
            assert shown[:3] == ["w000", "w001", "w002"]


async def test_a_latest_first_page_is_read_through_a_bounded_window(app: AppClient) -> None:
    http = app.http
    assert http is not None
    FINDS.filters.clear()
    r = await http.get(f"/Observation?code={WEIGHT}&_sort=-date&_count=5")
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [
        "w055",
        "w057",
        "w059",
        "w020",
        "w021",
    ]
    ranged = [f for f in FINDS.filters if "idx.date.e" in f]
    assert ranged, FINDS.filters
    # every query of the page names the code and a range of the sort key; past the first
    # (open towards the future), each range is closed on both sides
    assert all("idx.code.v" in f for f in ranged)
    assert all({"$gte", "$lte"} <= set(f["idx.date.e"]) for f in ranged[1:])
