"""Authentication (issue 9, item 1): only valid bearer tokens of the trusted issuer pass.

The server is configured as in production — ``FHIR_AUTH_JWKS`` (a file here,
an https URL in the last tests, served through respx), ``FHIR_AUTH_ISSUER``,
``FHIR_AUTH_AUDIENCE`` — and every tampering case of the issue is a 401 with
``WWW-Authenticate: Bearer`` and an OperationOutcome. Keys are real RSA and
P-256 keys, tokens are signed by PyJWT as an identity provider would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import AppClient, bearer, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
ISSUER = "https://idp.example.org/realms/mrtc"
AUDIENCE = "https://fhir.example.org"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ROTATED = ec.generate_private_key(ec.SECP256R1())
INTRUDER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        out = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        alg = "RS256"
    else:
        out = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        alg = "ES256"
    return {**out, "kid": kid, "use": "sig", "alg": alg}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "regional-platform",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "system/*.cruds",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, kid: str | None, alg: str, **overrides: Any) -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def idp(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    folder = tmp_path_factory.mktemp("idp")
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1")]}))
    settings = make_settings(
        mongo_uri,
        data_dir=folder / "data",
        auth={
            "jwks": str(jwks),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "jwks_refresh_seconds": 0,
            "leeway_seconds": 5,
        },
    )
    server = AppClient(settings)
    async with server:
        server.jwks_path = jwks  # type: ignore[attr-defined]
        yield server


async def status(
    server: AppClient, token: str | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with server.client_for(raw=token or "") as c:
        return await c.get("/Patient", headers=headers or {})


async def test_rs256_and_es256_tokens_of_the_issuer_are_accepted(idp: AppClient) -> None:
    assert (await status(idp, sign(RSA_KEY, "rsa-1", "RS256"))).status_code == 200
    assert (await status(idp, sign(EC_KEY, "ec-1", "ES256"))).status_code == 200


def _public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _unsigned(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), None, algorithm="none")  # type: ignore[arg-type]


def _hmac_with_public_key() -> str:
    # the classic confusion attack: the public key used as an HMAC secret
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(_public_pem(RSA_KEY), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(mac.digest())}"


def _bad_signature() -> str:
    good = sign(RSA_KEY, "rsa-1", "RS256")
    forged = sign(RSA_KEY, "rsa-1", "RS256", sub="someone-else")
    head, _, signature = good.split(".")
    return ".".join([head, forged.split(".")[1], signature])


TAMPERED = {
    "alg none": lambda: _unsigned(),
    "HMAC signed with the public key": _hmac_with_public_key,
    "wrong issuer": lambda: sign(RSA_KEY, "rsa-1", "RS256", iss="https://evil.example"),
    "wrong audience": lambda: sign(EC_KEY, "ec-1", "ES256", aud="https://other.example"),
    "no audience": lambda: sign(EC_KEY, "ec-1", "ES256", aud=None),
    "expired": lambda: sign(RSA_KEY, "rsa-1", "RS256", exp=int(time.time()) - 60),
    "no expiry": lambda: sign(RSA_KEY, "rsa-1", "RS256", exp=None),
    "not yet valid": lambda: sign(EC_KEY, "ec-1", "ES256", nbf=int(time.time()) + 600),
    "bad signature": _bad_signature,
    "signed by another key under a trusted kid": lambda: sign(INTRUDER, "rsa-1", "RS256"),
    "EC kid with an RSA algorithm": lambda: sign(RSA_KEY, "ec-1", "RS256"),
    "unknown kid": lambda: sign(ROTATED, "ec-unknown", "ES256"),
    "malformed header": lambda: "eyJub3QganNvbg.eyJzdWIiOiJ4In0.c2ln",
    "not a JWT": lambda: "hello",
    "PS256 (not accepted)": lambda: sign(RSA_KEY, "rsa-1", "PS256"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
async def test_every_tampered_token_is_a_401(idp: AppClient, case: str) -> None:
    r = await status(idp, TAMPERED[case]())
    assert r.status_code == 401, (case, r.text)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    assert body["issue"][0]["details"]["coding"][0]["code"].startswith("MRTC-AUTH-")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    ids=["missing", "basic", "empty"],
)
async def test_no_bearer_token_is_a_401_with_a_challenge(
    idp: AppClient, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=idp.app), base_url="http://testserver"
    ) as c:
        r = await c.get("/Patient", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="fhir"'
    assert r.json()["issue"][0]["code"] == "login"


def publish(path: Path, key: dict[str, Any]) -> None:
    """The identity provider adds a key to its set."""
    keys = json.loads(path.read_text())["keys"]
    path.write_text(json.dumps({"keys": [*keys, key]}))


async def test_a_rotated_key_is_fetched_on_its_first_unknown_kid(idp: AppClient) -> None:
    token = sign(ROTATED, "ec-2", "ES256")
    assert (await status(idp, token)).status_code == 401  # refetched: still unknown
    publish(idp.jwks_path, jwk(ROTATED, "ec-2"))  # type: ignore[attr-defined]
    assert (await status(idp, token)).status_code == 200  # the provider published it


async def test_open_endpoints_answer_without_a_token(idp: AppClient) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=idp.app), base_url="http://testserver"
    ) as c:
        for path in ("/metadata", "/.well-known/smart-configuration", "/healthz", "/readyz"):
            assert (await c.get(path)).status_code == 200, path
        smart = (await c.get("/.well-known/smart-configuration")).json()
        assert smart["issuer"] == ISSUER and smart["jwks_uri"] == str(idp.jwks_path)  # type: ignore[attr-defined]
        # an external issuer: this server publishes no keys of its own
        assert (await c.get("/.well-known/jwks.json")).status_code == 404
        statement = (await c.get("/metadata")).json()
        service = statement["rest"][0]["security"]["service"][0]["coding"][0]
        assert service["code"] == "SMART-on-FHIR"
        for path in ("/Patient", "/_history", "/Patient/x/$break-glass"):
            assert (await c.get(path)).status_code == 401, path


async def test_a_jwks_url_is_fetched_once_and_again_on_an_unknown_kid(
    mongo_uri: str, tmp_path: Path
) -> None:
    url = "https://idp.example.org/realms/mrtc/protocol/openid-connect/certs"
    settings = make_settings(
        mongo_uri,
        data_dir=tmp_path,
        auth={"jwks": url, "issuer": ISSUER, "audience": AUDIENCE, "jwks_refresh_seconds": 0},
    )
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="testserver").pass_through()
        route = mock.get(url).mock(
            return_value=httpx.Response(200, json={"keys": [jwk(EC_KEY, "ec-1")]})
        )
        server = AppClient(settings)
        async with server:
            assert (await status(server, sign(EC_KEY, "ec-1", "ES256"))).status_code == 200
            assert (await status(server, sign(EC_KEY, "ec-1", "ES256"))).status_code == 200
            fetched = route.call_count
            assert (await status(server, sign(ROTATED, "ec-9", "ES256"))).status_code == 401
            assert route.call_count == fetched + 1  # refetched once for the unknown kid


def test_token_command_prints_only_a_token_the_server_accepts(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "token",
            "--data",
            str(tmp_path),
            "--fhir-user",
            "Practitioner/doc",
            "--scope",
            "user/*.rs",
            "--ttl",
            "120",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    header = jwt.get_unverified_header(lines[0])
    assert header["alg"] == "ES256"
    payload = jwt.decode(lines[0], options={"verify_signature": False})
    assert payload["fhirUser"] == "Practitioner/doc" and payload["scope"] == "user/*.rs"
    assert payload["exp"] - payload["iat"] == 120
    key = tmp_path / "auth" / "dev-signing-key.pem"
    assert key.stat().st_mode & 0o077 == 0  # owner-only


def cli_token(data: Path) -> str:
    """What `fhir-server token --data DIR` prints (a system token)."""
    out = subprocess.run(
        [sys.executable, "-m", "fhir_server", "token", "--data", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


async def test_dev_issuer_tokens_work_and_its_keys_are_published(
    mongo_uri: str, tmp_path: Path
) -> None:
    settings = make_settings(mongo_uri, data_dir=tmp_path)
    out = cli_token(tmp_path)
    server = AppClient(settings)
    async with server, server.client_for(raw="") as anonymous:
        assert (await anonymous.get("/Patient")).status_code == 401
        r = await anonymous.get("/Patient", headers=bearer(out))
        assert r.status_code == 200
        keys = (await anonymous.get("/.well-known/jwks.json")).json()["keys"]
        assert keys[0]["kty"] == "EC" and "d" not in keys[0]
        smart = (await anonymous.get("/.well-known/smart-configuration")).json()
        assert smart["jwks_uri"].endswith("/.well-known/jwks.json")
