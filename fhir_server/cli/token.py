"""``fhir-server token``: print a token of the development issuer (and nothing else on stdout).

Without ``FHIR_AUTH_JWKS`` the server is its own development issuer; this
command signs a token with the key it keeps in ``<data dir>/auth/``, for the
issuer and audience it verifies (``security.tokens.mint_dev_token``), so
``TOKEN=$(fhir-server token)`` then ``curl -H "Authorization: Bearer $TOKEN"``
works against ``fhir-server serve`` on the same data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fhir_server.cli.common import load_settings
from fhir_server.security.tokens import mint_dev_token


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="The server's data directory (FHIR_DATA_DIR, default ./data).",
)
@click.option("--fhir-user", default=None, help="Practitioner/ID or PractitionerRole/ID.")
@click.option(
    "--scope", default=None, help="SMART scopes (default user/*.cruds, or system/*.cruds)."
)
@click.option("--ttl", type=click.IntRange(1), default=None, help="Lifetime in seconds.")
def token(data: Path | None, fhir_user: str | None, scope: str | None, ttl: int | None) -> None:
    """Print a token signed by the development issuer of a data directory."""
    overrides: dict[str, Any] = {} if data is None else {"data_dir": data.absolute()}
    settings = load_settings(**overrides)
    try:
        value = mint_dev_token(settings, fhir_user=fhir_user, scope=scope or "", ttl=ttl)
    except ValueError as exc:  # an external identity provider is configured
        raise click.ClickException(str(exc)) from None
    click.echo(value)
