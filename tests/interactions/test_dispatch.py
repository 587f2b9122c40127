"""``dispatch.handle``: the policy sees every request and every bundle entry first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio

from fhir_server.errors import FhirError, Forbidden
from fhir_server.interactions.context import Context
from fhir_server.interactions.dispatch import handle
from fhir_server.interactions.routing import resolve
from fhir_server.search.restriction import Restriction
from fhir_server.security.policy import AccessRequest
from tests.conftest import AppClient, make_settings, patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


class RecordingPolicy:
    """Allows everything but ``DELETE``, and remembers what it was asked."""

    def __init__(self) -> None:
        self.seen: list[AccessRequest] = []

    async def authorize(self, principal: object | None, request: AccessRequest) -> None:
        self.seen.append(request)
        if request.method == "DELETE":
            raise Forbidden("deletes are not allowed here", msg_id="TEST-001")

    async def authenticate(self, authorization: str | None, base_url: str) -> object | None:
        return None

    async def restriction(self, principal: object | None) -> Restriction | None:
        return None

    async def check_write(self, *args: Any) -> None:
        return None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(mongo_uri: str) -> AsyncIterator[AppClient]:
    server = AppClient(make_settings(mongo_uri))
    async with server:
        yield server


def context(app: AppClient, policy: RecordingPolicy) -> Context:
    services = replace(app.app.state.services, policy=policy)
    return Context.for_request(services, "http://test.example/fhir")


async def test_every_request_is_authorised_before_it_runs(app: AppClient) -> None:
    policy = RecordingPolicy()
    ctx = context(app, policy)
    req = resolve("POST", "Patient")
    req.body = patient()
    created = await handle(ctx, req)
    pid = created.stored.id if created.stored else ""
    await handle(ctx, resolve("GET", f"Patient/{pid}"))
    with pytest.raises(Forbidden):
        await handle(ctx, resolve("DELETE", f"Patient/{pid}"))
    assert [(r.interaction, r.method, r.type) for r in policy.seen] == [
        ("create", "POST", "Patient"),
        ("read", "GET", "Patient"),
        ("delete", "DELETE", "Patient"),
    ]
    assert (await handle(ctx, resolve("GET", f"Patient/{pid}"))).status == 200  # not deleted


async def test_bundle_entries_are_authorised_one_by_one(app: AppClient) -> None:
    policy = RecordingPolicy()
    ctx = context(app, policy)
    req = resolve("POST", "")
    req.body = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": "Patient/whatever"}},
            {"request": {"method": "GET", "url": "Patient?family=Dupont"}},
        ],
    }
    outcome = await handle(ctx, req)
    statuses = [e["response"]["status"] for e in (outcome.body or {})["entry"]]
    assert statuses[0].startswith("201") and statuses[1].startswith("403")
    assert statuses[2].startswith("200")
    assert [r.interaction for r in policy.seen] == ["bundle", "create", "delete", "search-type"]


async def test_the_implementation_guide_is_read_only(app: AppClient) -> None:
    ctx = context(app, RecordingPolicy())
    req = resolve("PUT", "StructureDefinition/mrtc-patient")
    req.body = {"resourceType": "StructureDefinition", "id": "mrtc-patient"}
    with pytest.raises(FhirError) as caught:
        await handle(ctx, req)
    assert caught.value.status == 405 and caught.value.headers == {"Allow": "GET"}
