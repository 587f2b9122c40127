"""The embedded database's directory must be usable before the database is started.

``secantusd-py`` started on a directory it cannot write fails later and less
clearly (its own log, inside the directory it could not write). Checked
first, the failure names the setting: ``FHIR_DATA_DIR`` (``--data``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fhir_server.startup import StartupRefused


class DataDirectoryError(StartupRefused):
    """The embedded database's directory cannot be created, read or written."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"data directory FHIR_DATA_DIR (--data) {path}: {problem}", setting="FHIR_DATA_DIR"
        )


def check_data_dir(path: Path) -> Path:
    """Create the directory if needed and prove it can be listed and written; its absolute path."""
    path = path.expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataDirectoryError(path, "exists and is not a directory") from None
    except OSError as exc:
        raise DataDirectoryError(path, f"cannot be created ({exc.strerror or exc})") from exc
    if not path.is_dir():
        raise DataDirectoryError(path, "is not a directory")
    probe = path / f".write-check-{uuid.uuid4().hex}"
    try:
        next(path.iterdir(), None)
        with probe.open("wb") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise DataDirectoryError(
            path, f"is not readable and writable ({exc.strerror or exc})"
        ) from exc
    finally:
        probe.unlink(missing_ok=True)
    return path
