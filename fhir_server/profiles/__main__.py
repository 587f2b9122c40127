"""Validate FHIR JSON files offline: ``python -m fhir_server.profiles FILE... [--profile URL]``.

For IG authors and operators: the same engine as ``$validate`` and the write
path, without a server or a database. Prints one OperationOutcome per file
and exits with status 1 when any file has an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from fhir_server.errors import operation_outcome
from fhir_server.profiles.validator import ProfileValidator
from fhir_server.settings import DEFAULT_IG_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhir_server.profiles", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="FHIR JSON resources")
    parser.add_argument("--profile", action="append", default=[], help="profile URL to require")
    parser.add_argument("--ig", type=Path, default=DEFAULT_IG_DIR, help="IG directory")
    parser.add_argument("--no-base", action="store_true", help="skip the core base checks")
    args = parser.parse_args(argv)
    validator = ProfileValidator.from_ig(args.ig, base_checks=not args.no_base)
    for warning in validator.warnings:
        print(f"IG warning: {warning}", file=sys.stderr)
    failed = False
    for path in args.files:
        resource = orjson.loads(path.read_bytes())
        issues = validator.validate(resource, args.profile)
        failed |= any(i.severity in ("error", "fatal") for i in issues)
        print(f"== {path}")
        print(orjson.dumps(operation_outcome(issues), option=orjson.OPT_INDENT_2).decode())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
