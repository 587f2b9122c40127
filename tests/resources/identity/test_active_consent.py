"""``resources.consent.active_consent``: the check the pathway calls before attaching.

Consents are written over HTTP; the check is called on the running app's own
services, exactly as an operation of the pathway issue will call it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from fhir_server.resources.consent import active_consent
from fhir_server.storage.repository import ReadScope
from tests.conftest import AppClient, make_settings
from tests.resources.identity._patients import mrtc_patient
from tests.resources.identity.test_consent_and_family import consent

pytestmark = pytest.mark.asyncio(loop_scope="session")
REASON = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent-revocation-reason"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(mongo_uri: str) -> AsyncIterator[AppClient]:
    app = AppClient(make_settings(mongo_uri))
    async with app:
        yield app


async def _check(server: AppClient, pid: str, at: datetime | None = None) -> str | None:
    services = server.app.state.services
    found = await active_consent(
        services.repository,
        services.search_params,
        services.settings.search,
        pid,
        ReadScope(),
        at=at,
    )
    return found.id if found else None


async def test_active_consent_follows_collection_revocation_and_period(server: AppClient) -> None:
    http = server.http
    assert http is not None
    pid = (await http.post("/Patient", json=mrtc_patient("ACTIVE", "Ana", "2014-04-04"))).json()[
        "id"
    ]
    assert await _check(server, pid) is None  # no consent yet
    body = consent(pid, dateTime="2026-01-10T10:00:00+01:00")
    body["provision"] = {"type": "permit", "period": {"start": "2026-01-10"}}
    created = (await http.post("/Consent", json=body)).json()
    assert await _check(server, pid) == created["id"]
    # not yet collected at an earlier instant
    assert await _check(server, pid, datetime(2025, 12, 1, tzinfo=UTC)) is None
    # withdrawn: no active consent any more
    created["status"] = "inactive"
    created["extension"].append({"url": REASON, "valueString": "Déménagement"})
    assert (await http.put(f"/Consent/{created['id']}", json=created)).status_code == 200
    assert await _check(server, pid) is None
    # a consent whose period has ended does not count
    ended = consent(pid, dateTime="2025-01-10T10:00:00+01:00")
    ended["provision"] = {"type": "permit", "period": {"start": "2025-01-10", "end": "2025-06-01"}}
    assert (await http.post("/Consent", json=ended)).status_code == 201
    assert await _check(server, pid) is None
    # another patient's consent never answers for this one
    other = (await http.post("/Patient", json=mrtc_patient("ACTIVEB", "Ana", "2014-04-04"))).json()[
        "id"
    ]
    assert (await http.post("/Consent", json=consent(other))).status_code == 201
    assert await _check(server, pid) is None
    assert await _check(server, other) is not None
