"""``fhir-server serve``: the server under uvicorn, on the embedded database by default.

``http_server.uvicorn_config`` is the one place the uvicorn ``Config`` is
made (the tests' live server uses it too), so that anything about the HTTP
server (parser, limits, proxy headers, timeouts) lands once. The exit status
is the server's: 0 after a clean shutdown, ``EXIT_CONFIG`` (78) with one line
on stderr when the start was refused, 3 when the app failed to start for
another reason (uvicorn's own status for that), 1 when the embedded database
died and could not be restarted (so that a process supervisor acts).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import uvicorn
from fastapi import FastAPI

from fhir_server.app import create_app
from fhir_server.cli.common import load_settings, refuse
from fhir_server.http_server import uvicorn_config
from fhir_server.settings import Settings
from fhir_server.storage.health import DatabaseState

STARTUP_FAILURE = 3  # uvicorn's status when the application did not start
DATABASE_LOST = 1  # the embedded database died and every restart failed
INTERRUPTED = 130  # Ctrl-C before the server was up


class _QuietRefusal(logging.Filter):
    """Drop uvicorn's traceback of a refused start: the CLI says it in one line instead."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        refused = getattr(self.app.state, "startup_refused", None)
        return refused is None or record.levelno < logging.ERROR


def run_server(settings: Settings, *, host: str, port: int) -> int:
    """Run until shut down; the exit status of the server (see the module docstring)."""
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host=host, port=port))
    app.state.stop_serving = lambda: setattr(server, "should_exit", True)
    quiet = _QuietRefusal(app)
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addFilter(quiet)
    status = 0
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits by itself when the app or the socket fails
        status = exc.code if isinstance(exc.code, int) else STARTUP_FAILURE
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT once it has shut down gracefully
        status = 0 if server.started else INTERRUPTED
    finally:
        uvicorn_log.removeFilter(quiet)
    refused = getattr(app.state, "startup_refused", None)
    if refused is not None:
        refuse(refused)
    if not server.started and status == 0:
        status = STARTUP_FAILURE
    database = app.state.database
    if status == 0 and database is not None and database.state is DatabaseState.FAILED:
        status = DATABASE_LOST  # the embedded database is gone for good: let a supervisor act
    return status


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Embedded database directory (FHIR_DATA_DIR, default ./data).",
)
def serve(host: str, port: int, data: Path | None) -> None:
    """Run the FHIR server (the embedded database unless FHIR_MONGODB_URI is set)."""
    overrides: dict[str, Any] = {} if data is None else {"data_dir": data.absolute()}
    settings = load_settings(**overrides)
    raise SystemExit(run_server(settings, host=host, port=port))
