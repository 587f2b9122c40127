"""A verified token is reused for a while, never past its expiry."""

from __future__ import annotations

import asyncio
import time

import pytest

from fhir_server.security.tokens import mint_dev_token
from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_cached_token_is_refused_once_it_expires(mongo_uri: str) -> None:
    settings = make_settings(mongo_uri, auth={"leeway_seconds": 0, "cache_seconds": 60})
    server = AppClient(settings)
    async with server:
        token = mint_dev_token(settings, scope="system/*.cruds", ttl=2)
        async with server.client_for(raw=token) as c:
            started = time.time()
            for _ in range(3):  # verified once, then answered from the cache
                assert (await c.get("/Patient")).status_code == 200
            assert time.time() - started < 1.5, "too slow to test the cache before expiry"
            await asyncio.sleep(2.6)
            r = await c.get("/Patient")
            assert r.status_code == 401, r.text
            assert "MRTC-AUTH-007" in r.text


async def test_a_tampered_token_is_not_taken_from_the_cache(mongo_uri: str) -> None:
    settings = make_settings(mongo_uri, auth={"cache_seconds": 60})
    token = mint_dev_token(settings, scope="system/*.cruds", ttl=600)
    server = AppClient(settings)
    async with server:
        async with server.client_for(raw=token) as c:
            assert (await c.get("/Patient")).status_code == 200
        head, payload, signature = token.split(".")
        forged = f"{head}.{payload}.{signature[:-4]}AAAA"
        async with server.client_for(raw=forged) as c:
            assert (await c.get("/Patient")).status_code == 401
