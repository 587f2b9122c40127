"""What every subcommand shares: building ``Settings`` and saying a refusal in one line."""

from __future__ import annotations

from typing import Any, NoReturn

import click
from pydantic import ValidationError

from fhir_server.settings import Settings
from fhir_server.startup import EXIT_CONFIG, StartupRefused, refused_settings


def load_settings(**overrides: Any) -> Settings:
    """The ``Settings`` from ``FHIR_*`` (and command-line overrides), validated as a whole."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        refuse(refused_settings(exc))


def refuse(exc: StartupRefused) -> NoReturn:
    """Print why the server cannot run, and exit with ``EXIT_CONFIG``; never a traceback."""
    click.echo(f"fhir-server: cannot start: {exc.message}", err=True)
    raise SystemExit(EXIT_CONFIG)
