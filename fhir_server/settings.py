"""Runtime configuration, read once from ``FHIR_*`` environment variables.

Every tunable lives here so that operators find them in one place and code
never carries scattered constants.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Server settings; each field maps to ``FHIR_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FHIR_", env_file=None, extra="ignore")

    # Database: when ``mongodb_uri`` is empty the embedded server is started.
    mongodb_uri: str = ""
    database: str = "fhir"
    data_dir: Path = Path("./data")
    embedded_command: str = "secantusd-py"
    embedded_start_timeout: float = 30.0
    embedded_cache_size: str = "1G"
    db_timeout_ms: int = 5000
    # A 2xx promises the write is on disk: journaled commits (the embedded database
    # fsyncs its journal on every commit; a replica set acknowledges with
    # ``w: majority, j: true``). False trades that promise for throughput: a crash can
    # then lose writes acknowledged in the last fraction of a second. See
    # docs/decisions/0011-durable-writes.md.
    durable_writes: bool = True
    # Supervision of the embedded database (storage/supervisor.py): restarts after it
    # dies, each after a doubling delay, before the server gives up and exits non-zero.
    embedded_restart_attempts: int = 5
    embedded_restart_delay: float = 0.5  # seconds before the first restart, then doubled
    embedded_restart_delay_max: float = 8.0
    embedded_watch_interval: float = 0.1  # how often the child process is checked
    embedded_stable_after: float = 60.0  # uptime after which past restarts are forgotten
    db_retry_after: int = 2  # seconds, the Retry-After of a 503 while the database is down

    # HTTP
    base_url: str = ""  # absolute base for links; derived from the request when empty
    max_body_bytes: int = 10 * 1024 * 1024
    gzip_min_bytes: int = 1024

    # History and search paging
    default_count: int = 20
    max_count: int = 1000

    # Implementation guide (FHIR JSON files with an index.json), served read-only
    ig_dir: Path = Path(__file__).resolve().parent.parent / "ig"

    # FastAPI's native OpenTelemetry spans and metrics (off: they cost CPU on every request)
    telemetry: bool = False

    # Logging
    log_level: str = "INFO"
    log_json: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings are immutable for the life of a process; read them once."""
    return Settings()
