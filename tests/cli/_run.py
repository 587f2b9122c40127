"""Run ``fhir-server`` as an operator does: a child process, a clean FHIR_* environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_env(**fhir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    env.update(fhir)
    return env


def fhir_server(
    *args: str, cwd: Path, timeout: float = 120, **fhir: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fhir_server", *args],
        cwd=cwd,
        env=clean_env(**fhir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
