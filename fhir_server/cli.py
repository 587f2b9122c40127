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
    from fhir_server.settings import Settings

    settings = Settings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        access_log=False,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0


def _token(args: argparse.Namespace) -> int:
    """Print a development token on stdout (and nothing else)."""
    from fhir_server.security.devtokens import token_command

    print(token_command(args.data, fhir_user=args.fhir_user, scope=args.scope, ttl=args.ttl))
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the FHIR server (embedded database by default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data", default=None, help="embedded database directory (./data)")
    token = sub.add_parser(
        "token", help="print a token signed by the development issuer of a data directory"
    )
    token.add_argument("--data", default=None, help="the server's data directory (./data)")
    token.add_argument("--fhir-user", default=None, help="Practitioner/ID or PractitionerRole/ID")
    token.add_argument(
        "--scope", default=None, help="SMART scopes (default user/*.cruds, or system/*.cruds)"
    )
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    args = parser.parse_args(argv)
    if args.command == "token":
        args.data = args.data or os.environ.get("FHIR_DATA_DIR", "./data")
        sys.exit(_token(args))
    if args.command == "serve":
        args.data_explicit = args.data is not None
        args.data = args.data or os.environ.get("FHIR_DATA_DIR", "./data")
        sys.exit(_serve(args))


if __name__ == "__main__":
    main()
