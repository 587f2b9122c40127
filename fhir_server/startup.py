"""Why the server refuses to start: one typed error, one sentence, the setting or file named.

A server that starts half-configured (no implementation guide, a database
without transactions, a data directory it cannot write) serves children's
records with rules silently missing. So every condition the server cannot
run correctly under is a ``StartupRefused`` raised while starting, and the
command line turns it into one line on stderr and the exit status
``EXIT_CONFIG`` (78, ``EX_CONFIG`` of sysexits.h): a supervisor can tell
"fix the configuration" from a crash and stop restarting
(``RestartPreventExitStatus=78`` in systemd). Nothing else is printed: no
traceback, no degraded mode.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from fhir_server.settings import Settings, environment_name, settings_groups, shown

EXIT_CONFIG = 78


class StartupRefused(Exception):
    """The server cannot run correctly with this configuration; the message says why and how."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting  # the FHIR_* variable (or file) at fault, when there is one


def refused_settings(exc: ValidationError) -> StartupRefused:
    """Name each invalid ``FHIR_*`` variable, its value and the rule it breaks.

    A group's own validation fails while ``Settings`` is built, with the
    group's class as the error's title, so the variable name is that group's
    prefix plus the field; a rule across fields (``loc`` empty) names its
    message only.
    """
    classes: dict[str, type[BaseSettings]] = {Settings.__name__: Settings}
    classes.update({cls.__name__: cls for cls in settings_groups().values()})
    groups = settings_groups()
    lines = []
    for error in exc.errors(include_url=False):
        model = classes.get(exc.title, Settings)
        loc = [str(part) for part in error["loc"]]
        if model is Settings and len(loc) > 1 and loc[0] in groups:
            model, loc = groups[loc[0]], loc[1:]  # a group given as values, not from variables
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:
            lines.append(message)
            continue
        name = environment_name(model, loc[0])
        value = "" if error["type"] == "missing" else f"='{shown(name, error.get('input'))}'"
        lines.append(f"{name}{value}: {message}")
    setting = lines[0].split("=", 1)[0].split(":", 1)[0] if lines else None
    return StartupRefused("invalid setting " + "; ".join(lines), setting=setting)
