"""The allow/deny table over a real socket: uvicorn, separate clients, real tokens.

The same world and table as ``test_access_table``, read through plain HTTP
connections to a uvicorn server (the ASGI tests skip the network layer: here
the Authorization header, the client address in the audit trail and the
401 challenge travel over TCP).
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer, bearer, token
from tests.security.world import EVERYTHING, PRINCIPALS, VISIBLE, transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_table_holds_over_a_real_socket(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as system:
        r = await system.post("/", json=transaction())
        assert r.status_code == 200, r.text
    async with httpx.AsyncClient(base_url=live_server) as anonymous:
        r = await anonymous.get("/Patient/lea")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await anonymous.get("/metadata")).status_code == 200
    wrong = []
    for who, fhir_user in PRINCIPALS.items():
        headers = bearer(token(live_server.settings, fhir_user=fhir_user))
        async with httpx.AsyncClient(base_url=live_server, headers=headers) as c:
            for ref in sorted(EVERYTHING):
                type_, _, id_ = ref.partition("/")
                read = (await c.get(f"/{ref}")).status_code
                found = (await c.get(f"/{type_}", params={"_id": id_})).json()
                listed = any(e["resource"]["id"] == id_ for e in found.get("entry", []))
                expected = ref in VISIBLE[who]
                if (read == 200) != expected or listed != expected or read not in (200, 404):
                    wrong.append((who, ref, read, listed))
    assert wrong == []
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as system:
        trail = (
            await system.get(
                "/AuditEvent",
                params={"agent": "Practitioner/diet", "entity": "DocumentReference/lea-psy"},
            )
        ).json()
        (event,) = [e["resource"] for e in trail["entry"]]
        assert event["outcome"] == "4"  # the dietitian's refused read, from 127.0.0.1
        assert event["agent"][0]["network"]["address"] == "127.0.0.1"
