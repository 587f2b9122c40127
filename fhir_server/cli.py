"""``fhir-server`` command line: ``serve`` (and more as the project grows)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    os.environ.setdefault("FHIR_DATA_DIR", str(Path(args.data).resolve()))
    if args.data_explicit:
        os.environ["FHIR_DATA_DIR"] = str(Path(args.data).resolve())
    from fhir_server.app import create_app
    from fhir_server.http_server import uvicorn_config
    from fhir_server.settings import Settings
    from fhir_server.storage.health import DatabaseState

    settings = Settings()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host=args.host, port=args.port))
    app.state.stop_serving = lambda: setattr(server, "should_exit", True)
    server.run()  # exits with code 3 itself when start-up fails
    database = app.state.database
    if database is not None and database.state is DatabaseState.FAILED:
        return 1  # the embedded database is gone for good: let a supervisor act
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the FHIR server (embedded database by default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data", default=None, help="embedded database directory (./data)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        args.data_explicit = args.data is not None
        args.data = args.data or os.environ.get("FHIR_DATA_DIR", "./data")
        sys.exit(_serve(args))


if __name__ == "__main__":
    main()
