"""``fhir-server``: the one command an operator runs, one module per subcommand.

``serve`` runs the server, ``load`` imports NDJSON and Bundle files through
its API, ``token`` prints a development token, ``config`` prints the
configuration it would run with, ``ig check`` checks an implementation guide
folder. Adding a
subcommand is a module of this package that defines a ``click`` command (or
group) and one ``main.add_command`` line below, in the section it belongs to;
``--help`` lists it there.
"""

from __future__ import annotations

import click

from fhir_server import FHIR_VERSION, __version__
from fhir_server.cli.config import config
from fhir_server.cli.ig import ig
from fhir_server.cli.load import load
from fhir_server.cli.serve import serve
from fhir_server.cli.token import token

SECTIONS: dict[str, list[str]] = {
    "Run": ["serve", "load", "token"],
    "Inspect": ["config", "ig"],
}


class SectionedGroup(click.Group):
    """A group whose ``--help`` lists its commands by section, in the order given."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed: set[str] = set()
        for title, names in [*SECTIONS.items(), ("Other", sorted(self.commands))]:
            rows = []
            for name in names:
                command = self.commands.get(name)
                if command is None or command.hidden or name in listed:
                    continue
                listed.add(name)
                rows.append((name, command.get_short_help_str(limit=formatter.width)))
            if rows:
                with formatter.section(f"{title} commands"):
                    formatter.write_dl(rows)


@click.group(
    cls=SectionedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="fhir-server",
    message=f"%(prog)s %(version)s (FHIR R4 {FHIR_VERSION})",
)
def main() -> None:
    """MRTC coordination FHIR R4 server.

    Configuration comes from FHIR_* environment variables (`fhir-server config` shows
    them). A refused start exits with status 78 and one line naming the setting or file.
    """


main.add_command(serve)
main.add_command(load)
main.add_command(config)
main.add_command(ig)
main.add_command(token)
