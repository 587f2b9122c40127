"""Runtime configuration, read once from ``FHIR_*`` environment variables.

Every tunable lives here so that operators find them in one place and code
never carries scattered constants.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
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

    # HTTP
    base_url: str = ""  # absolute base for links; derived from the request when empty
    max_body_bytes: int = 10 * 1024 * 1024
    gzip_min_bytes: int = 1024
    # Request URLs (path and query as sent) longer than this get a 414 OperationOutcome;
    # 8 KiB is what common reverse proxies pass by default. Longer searches: POST _search.
    max_url_bytes: int = Field(default=8 * 1024, ge=1024)
    # What the HTTP server reads of a request line and headers before answering a plain 400
    # itself; above max_url_bytes so that the server answers over-long URLs with a 414.
    max_request_head_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    # uvicorn's HTTP/1.1 parser: "h11" (default) reads request heads up to
    # max_request_head_bytes; "httptools" is faster but cannot parse URLs of 64 KiB or
    # more, which it answers with a plain-text 400 instead of the 414 OperationOutcome.
    http_parser: Literal["h11", "httptools"] = "h11"
    # JSON nesting allowed in a request body and in any resource stored (MongoDB refuses
    # documents nested over 100 levels; real resources stay far below 64).
    max_depth: int = Field(default=64, ge=8, le=90)

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
