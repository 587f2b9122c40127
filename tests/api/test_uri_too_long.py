"""414 URI Too Long as an OperationOutcome, for URLs over FHIR_MAX_URL_BYTES.

Checked over the ASGI transport and over a real uvicorn configured exactly as
``fhir-server serve`` configures it (``fhir_server/http_server.py``), with a
100 KB URL sent on a raw socket (httpx itself refuses URLs over 64 KiB).
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _outcome_414(r: httpx.Response) -> None:
    assert r.status_code == 414, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    issue = r.json()["issue"][0]
    assert issue["code"] == "too-long"
    assert issue["details"]["coding"][0]["code"] == "MRTC-HTTP-414"


async def test_a_url_over_the_limit_is_414(client: httpx.AsyncClient) -> None:
    long_name = "a" * 9000
    _outcome_414(await client.get(f"/Patient?name={long_name}"))
    _outcome_414(await client.get(f"/{'x' * 9000}"))  # the path counts too
    r = await client.get("/Patient?" + "&".join([f"name={'a' * 500}"] * 14))  # 7 KiB: served
    assert r.status_code == 200, r.text


def _raw_get(base: str, target: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET on a raw socket; (status, headers, body)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    status = int(lines[0].split()[1])
    if headers.get("transfer-encoding") == "chunked":
        decoded, rest = b"", body
        while rest:
            size_text, _, rest = rest.partition(b"\r\n")
            size = int(size_text, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2 :]
        body = decoded
    return status, {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize("size", [100_000, 500_000])
async def test_a_100kb_url_is_414_under_the_real_server(live_server: str, size: int) -> None:
    target = b"/Patient?name=" + b"a" * size
    status, headers, body = await asyncio.to_thread(_raw_get, live_server, target)
    assert status == 414, body[:300]
    assert headers["content-type"].startswith("application/fhir+json")
    outcome = orjson.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "MRTC-HTTP-414"
    assert headers.get("x-request-id")
    # and the server keeps serving
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as http:
        assert (await http.get("/metadata")).status_code == 200


def _raw(base: str, request: bytes) -> bytes:
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


async def test_a_request_the_http_parser_cannot_read_gets_an_operation_outcome(
    live_server: str,
) -> None:
    data = await asyncio.to_thread(
        _raw, live_server, b"GET /Patient HTTP/1.1\r\nBad Header\r\n\r\n"
    )
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"content-type: application/fhir+json" in head.lower()
    outcome = orjson.loads(body)
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "MRTC-HTTP-400"
