"""``fhir-server token``: a token from the development issuer of a data directory.

The server signs nothing itself at run time; this command is how a developer
(or a test, or a benchmark) gets a token that a server started on the same
data directory, without ``FHIR_AUTH_JWKS``, accepts: same key, issuer and
audience, read from the same settings.
"""

from __future__ import annotations

from pathlib import Path

from fhir_server.security.tokens import mint_dev_token
from fhir_server.settings import Settings


def token_command(
    data_dir: str | Path, *, fhir_user: str | None, scope: str | None, ttl: int | None
) -> str:
    settings = Settings(data_dir=Path(data_dir).resolve())
    return mint_dev_token(settings, fhir_user=fhir_user, scope=scope or "", ttl=ttl)
