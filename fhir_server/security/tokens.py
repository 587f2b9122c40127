"""Bearer tokens: who signed them, for whom, and until when.

Every request but the open endpoints carries ``Authorization: Bearer <JWT>``
(RFC 6750). A token is accepted only when all of these hold, checked by
PyJWT (a maintained JOSE library, no hand-written crypto):

* its header is well formed and names RS256 or ES256 — ``alg: none`` and the
  HMAC algorithms are refused before any key is looked at, so the public key
  can never serve as an HMAC secret;
* a key of the trusted set with that ``kid`` (refetched once on an unknown
  ``kid``) has the key type the algorithm needs, and the signature verifies;
* ``iss`` and ``aud`` are the configured ones; ``exp`` is present and not
  past, ``nbf`` not in the future (both with ``FHIR_AUTH_LEEWAY_SECONDS``).

Anything else is a 401 with ``WWW-Authenticate: Bearer`` and an
OperationOutcome (``errors.Unauthorized``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError

from fhir_server.errors import Unauthorized
from fhir_server.security.keys import (
    ALGORITHMS,
    KEY_TYPE,
    KeyCache,
    StaticJwks,
    load_or_create_dev_key,
    public_jwk,
    source_for,
)
from fhir_server.settings import Settings

DEV_ISSUER = "urn:mrtc-fhir:dev-issuer"
DEV_AUDIENCE = "urn:mrtc-fhir:server"
REALM = 'Bearer realm="fhir"'


def unauthorized(message: str, msg_id: str, *, error: str | None = "invalid_token") -> Unauthorized:
    """A 401 whose ``WWW-Authenticate`` says what was wrong (RFC 6750 §3)."""
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return Unauthorized(message, headers={"WWW-Authenticate": challenge}, msg_id=msg_id)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header; 401 when absent or of another scheme."""
    if not authorization:
        raise unauthorized(
            "This request needs an Authorization: Bearer token", "MRTC-AUTH-001", error=None
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized(
            "The Authorization header must be 'Bearer <token>'", "MRTC-AUTH-002", error=None
        )
    return token


MAX_VERIFIED = 10_000


class TokenVerifier:
    """Checks bearer tokens against one trusted issuer (see module docstring)."""

    def __init__(
        self, keys: KeyCache, issuer: str, audience: str, leeway: float, cache_seconds: float = 0
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        # A token already verified is not verified again for a short while (its signature
        # check cost more than the read it authorised): token -> (wall-clock deadline, claims).
        self.cache_seconds = cache_seconds
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        auth = settings.auth
        if auth.jwks:
            source = source_for(auth.jwks, auth.http_timeout_seconds)
            issuer, audience = auth.issuer, auth.audience
        else:
            key = load_or_create_dev_key(settings.data_dir)
            source = StaticJwks({"keys": [public_jwk(key)]})
            issuer, audience = dev_issuer(settings), dev_audience(settings)
        return cls(
            KeyCache(source, auth.jwks_refresh_seconds),
            issuer,
            audience,
            auth.leeway_seconds,
            auth.cache_seconds,
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; 401 for anything short of a valid token.

        A token verified less than ``cache_seconds`` ago, and not expired since,
        is answered from memory: the same bearer token on every request of a
        client costs one signature check per ``FHIR_AUTH_CACHE_SECONDS``, like
        the principal it resolves to (``CarePolicy``).
        """
        cached = self._verified.get(token)
        if cached is not None and cached[0] > time.time():
            return dict(cached[1])
        claims = await self._verify(token)
        if self.cache_seconds > 0:
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()  # bounded memory; the next requests verify again
            exp = claims.get("exp")
            deadline = time.time() + self.cache_seconds
            if isinstance(exp, int | float):
                deadline = min(deadline, float(exp))  # never past expiry, leeway or not
            self._verified[token] = (deadline, claims)
        return dict(claims)

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise unauthorized("The bearer token is malformed", "MRTC-AUTH-003") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise unauthorized(
                f"Token algorithm {alg!r} is not accepted (RS256 or ES256)", "MRTC-AUTH-004"
            )
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise unauthorized("The token's signing key is not trusted", "MRTC-AUTH-005")
        declared = getattr(key, "_jwk_data", {}).get("alg")
        if key.key_type != KEY_TYPE[alg] or (declared and declared != alg):
            raise unauthorized("The token's algorithm does not fit its key", "MRTC-AUTH-006")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience or None,
                issuer=self.issuer or None,
                leeway=self.leeway,
                options={
                    "require": ["exp", "iss", "aud"] if self.audience else ["exp", "iss"],
                    "verify_aud": bool(self.audience),
                },
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("The bearer token has expired", "MRTC-AUTH-007") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("The bearer token is not valid yet", "MRTC-AUTH-008") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("The token's issuer is not trusted", "MRTC-AUTH-009") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("The token is meant for another audience", "MRTC-AUTH-010") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("The token's signature is invalid", "MRTC-AUTH-011") from None
        except InvalidTokenError as exc:
            raise unauthorized(f"The bearer token is invalid: {exc}", "MRTC-AUTH-012") from None
        return claims


def dev_issuer(settings: Settings) -> str:
    return settings.auth.issuer or DEV_ISSUER


def dev_audience(settings: Settings) -> str:
    return settings.auth.audience or DEV_AUDIENCE


def mint_dev_token(
    settings: Settings,
    *,
    fhir_user: str | None = None,
    scope: str = "",
    ttl: int | None = None,
    subject: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A token signed by the development issuer of ``settings.data_dir``.

    What ``fhir-server token`` prints: the same key, issuer and audience the
    server verifies against when ``FHIR_AUTH_JWKS`` is not set.
    """
    if settings.auth.jwks:
        raise ValueError(
            "FHIR_AUTH_JWKS is set: tokens come from that identity provider, not from this server"
        )
    key = load_or_create_dev_key(settings.data_dir)
    now = int(time.time())
    lifetime = settings.auth.ttl_seconds if ttl is None else ttl
    claims: dict[str, Any] = {
        "iss": dev_issuer(settings),
        "aud": dev_audience(settings),
        "sub": subject or fhir_user or "system",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "scope": scope or ("user/*.cruds" if fhir_user else "system/*.cruds"),
    }
    if fhir_user:
        claims["fhirUser"] = fhir_user
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": public_jwk(key)["kid"]})


def dev_jwks(settings: Settings) -> dict[str, Any] | None:
    """The development issuer's public key set, or None when an external issuer is trusted."""
    if settings.auth.jwks:
        return None
    return {"keys": [public_jwk(load_or_create_dev_key(Path(settings.data_dir)))]}
