"""``fhir-server ig check``: is an implementation guide folder one the server can serve?"""

from __future__ import annotations

from pathlib import Path

import click

from fhir_server.cli.common import load_settings
from fhir_server.profiles.ig_check import check_ig


@click.group()
def ig() -> None:
    """Implementation guide tools: check a folder before serving it."""


@ig.command("check")
@click.argument(
    "folder", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
def check(folder: Path | None) -> None:
    """Check an IG folder (default: FHIR_IG_DIR, else the packaged IG) against itself.

    Index and files agree, every resource is valid FHIR, profiles compile, and every
    resource (the examples above all) is valid against the profiles it claims.
    Exits 1 when anything is wrong.
    """
    root = folder if folder is not None else load_settings().ig_dir
    report = check_ig(root)
    for problem in report.problems:
        click.echo(f"{root}: {problem}", err=True)
    summary = (
        f"{root}: {report.resources} resources, {report.profiles} profiles, "
        f"{report.examples} examples: "
    )
    if report.ok:
        click.echo(summary + "OK")
        return
    click.echo(summary + f"{len(report.problems)} problem(s)", err=True)
    raise SystemExit(1)
