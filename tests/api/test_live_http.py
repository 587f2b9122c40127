"""What only a real HTTP server shows: HEAD, gzip on the wire, keep-alive reuse."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer, patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_head_has_headers_and_no_body(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as client:
        created = (await client.post("/Patient", json=patient())).json()
        r = await client.head(f"/Patient/{created['id']}")
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["etag"] == 'W/"1"'
        assert r.headers["content-type"].startswith("application/fhir+json")
        missing = await client.head("/Patient/not-there")
        assert missing.status_code == 404 and missing.content == b""


async def test_gzip_on_the_wire(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as client:
        r = await client.get("/metadata", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert int(r.headers["content-length"]) < len(r.content)  # decoded is larger
        assert r.json()["resourceType"] == "CapabilityStatement"
