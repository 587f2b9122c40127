"""The open discovery documents: SMART configuration and the development issuer's keys.

``/.well-known/smart-configuration`` (SMART App Launch 2.0, "Conformance")
tells a client which issuer and keys to trust, which scopes exist and, when
the deployment configures them, where to get tokens. ``/.well-known/jwks.json``
serves the development issuer's public key (404 when an external identity
provider is trusted: its own ``jwks_uri`` is the one to use). Both answer
without a token, like ``/metadata`` and the health checks.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from fhir_server.api.errors import error_response
from fhir_server.api.routes import base_url
from fhir_server.errors import ResourceNotFound
from fhir_server.interactions.services import Services
from fhir_server.security.scopes import ALL
from fhir_server.security.tokens import dev_audience, dev_issuer, dev_jwks

router = APIRouter()


def smart_configuration(services: Services, base: str) -> dict[str, Any]:
    auth = services.settings.auth
    development = not auth.jwks
    config: dict[str, Any] = {
        "issuer": dev_issuer(services.settings) if development else auth.issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json" if development else auth.jwks,
        "scopes_supported": [
            "openid",
            "fhirUser",
            "user/*.cruds",
            "user/*.rs",
            "user/*.read",
            "user/*.write",
            "user/*.*",
            "system/*.cruds",
            "system/*.rs",
            "system/*.read",
        ],
        "response_types_supported": ["code"],
        "capabilities": ["permission-v1", "permission-v2", "client-confidential-asymmetric"],
        "code_challenge_methods_supported": ["S256"],
        "mrtc_audience": dev_audience(services.settings) if development else auth.audience,
        "mrtc_permissions": "".join(sorted(ALL)),
    }
    if auth.authorization_endpoint:
        config["authorization_endpoint"] = auth.authorization_endpoint
    if auth.token_endpoint:
        config["token_endpoint"] = auth.token_endpoint
        config["grant_types_supported"] = ["authorization_code", "client_credentials"]
    return config


@router.get("/.well-known/smart-configuration", include_in_schema=False)
async def smart(request: Request) -> Response:
    services: Services = request.app.state.services
    return JSONResponse(smart_configuration(services, base_url(request, services)))


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> Response:
    services: Services = request.app.state.services
    keys = dev_jwks(services.settings)
    if keys is None:
        return error_response(
            ResourceNotFound(
                "This server trusts an external identity provider: use its jwks_uri "
                "(see /.well-known/smart-configuration)",
                msg_id="MRTC-AUTH-040",
            )
        )
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})
