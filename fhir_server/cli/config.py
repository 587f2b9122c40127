"""``fhir-server config``: the configuration the server would run with, secrets masked.

One ``FHIR_NAME=value`` line per setting, defaults included, so the output
can be compared between two machines or kept as an environment file (after
putting the masked secrets back).
"""

from __future__ import annotations

import click

from fhir_server.cli.common import load_settings
from fhir_server.settings import effective_environment


@click.command()
def config() -> None:
    """Print the effective configuration (FHIR_* variables, secrets masked)."""
    settings = load_settings()
    for name, value in effective_environment(settings):
        click.echo(f"{name}={value}")
