"""Verification keys: the trusted JWKS (file or https URL) and the development key pair.

A production server trusts the identity provider's key set (``FHIR_AUTH_JWKS``).
It is read once, kept, and read again when a token names a ``kid`` it does not
hold (the provider rotated its keys) — at most once per
``FHIR_AUTH_JWKS_REFRESH_SECONDS``, so a flood of forged ``kid`` values cannot
turn the server into a client hammering the provider.

Without ``FHIR_AUTH_JWKS`` the server is its own development issuer: an ES256
(P-256) key pair is generated once in ``<data dir>/auth/`` and its public half
is served at ``/.well-known/jwks.json``. The key is created with owner-only
permissions and never leaves the data directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm
from jwt.exceptions import PyJWKError

DEV_KEY_FILE = "dev-signing-key.pem"
ALGORITHMS = ("RS256", "ES256")
# The key type each accepted algorithm needs: a token may never pick its own key type.
KEY_TYPE = {"RS256": "RSA", "ES256": "EC"}


class JwksSource(Protocol):
    async def fetch(self) -> Mapping[str, Any]: ...


class FileJwks:
    """A JWKS in a file (a mounted secret, or a test's key set)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def fetch(self) -> Mapping[str, Any]:
        loaded = json.loads(self.path.read_text(encoding="utf-8"))
        return loaded if isinstance(loaded, dict) else {}


class UrlJwks:
    """A JWKS published by the identity provider (``jwks_uri``)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    async def fetch(self) -> Mapping[str, Any]:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            loaded = response.json()
        return loaded if isinstance(loaded, dict) else {}


class StaticJwks:
    """A key set known at start (the development issuer's own public key)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self.jwks = jwks

    async def fetch(self) -> Mapping[str, Any]:
        return self.jwks


def source_for(setting: str, timeout: float) -> JwksSource:
    """``FHIR_AUTH_JWKS``: an http(s) URL or a file path."""
    if setting.startswith(("https://", "http://")):
        return UrlJwks(setting, timeout)
    return FileJwks(Path(setting))


class KeyCache:
    """Keys by ``kid``, refetched on an unknown ``kid`` at most every ``refresh_seconds``."""

    def __init__(self, source: JwksSource, refresh_seconds: float) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None

    async def key(self, kid: str | None) -> PyJWK | None:
        found = self._lookup(kid)
        if found is not None:
            return found
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self.refresh_seconds:
            await self._refresh(now)
            found = self._lookup(kid)
        return found

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            # A token without kid is acceptable only when the set holds a single key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, now: float) -> None:
        self._fetched_at = now
        try:
            jwks = await self.source.fetch()
        except (OSError, ValueError, httpx.HTTPError):
            return  # keep the keys we have; the token is refused if none fits
        keys: dict[str, PyJWK] = {}
        for i, raw in enumerate(jwks.get("keys") or []):
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
                continue
            try:
                jwk = PyJWK(raw)
            except PyJWKError:
                continue
            keys[str(raw.get("kid") or f"#{i}")] = jwk
        self._keys = keys


# -- the development issuer's key pair -------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint of an EC public key: a stable ``kid``."""
    members = {k: public_jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def load_or_create_dev_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The development signing key, generated on first use (owner-only file)."""
    folder = data_dir / "auth"
    path = folder / DEV_KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return loaded


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with its ``kid``, ``alg`` and ``use``."""
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    jwk.update({"kid": thumbprint(jwk), "alg": "ES256", "use": "sig"})
    return jwk
