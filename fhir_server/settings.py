"""Runtime configuration: one ``Settings`` object, read once from ``FHIR_*`` variables.

Every tunable lives here so that operators find them in one place and code
never carries scattered constants. The object is built once (by the CLI, or
by a test exactly as the CLI does) and injected: ``create_app(settings)``
hands it to the services, and nothing reads the environment behind its back.
The groups that belong to one subsystem (``search``, ``profiles``) keep
their own prefix so that each reads like the subsystem it tunes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_IG_DIR = Path(__file__).resolve().parent.parent / "ig"


class SearchSettings(BaseSettings):
    """``FHIR_SEARCH_*``: the bounds that keep one search from costing the whole server.

    How many ids a chain or ``_has`` may feed into the outer query, how many
    resources ``_include`` may add, how deep chains and ``:iterate`` may go.
    The general page sizes (``default_count``, ``max_count``) are top-level.
    """

    model_config = SettingsConfigDict(env_prefix="FHIR_SEARCH_", env_file=None, extra="ignore")

    max_chain_ids: int = 1000  # ids a chained / _has sub-query may return
    max_chain_depth: int = 4
    max_include: int = 1000  # resources _include + _revinclude may add to one page
    max_iterate_depth: int = 3
    max_criteria: int = 30  # parameters in one search
    max_or_values: int = 100  # comma-separated values in one parameter
    max_value_length: int = 512
    max_wildcards: int = 4  # '%' in one :wildcard value
    windowed_paging: bool = True  # id windows for deep pages (see storage.paging)
    scan_budget: int = 20000  # documents one page may examine when residual filters drop some
    # Which parameters get a MongoDB index: "default" (fhir_server/data/search-indexes.json
    # plus the IG's own parameters), "all", or a comma list of Type.code / *.code to add
    # to the defaults. Every index is paid on every write of its type.
    indexes: str = "default"


class ProfileSettings(BaseSettings):
    """``FHIR_ENFORCE_PROFILES``, ``FHIR_UNKNOWN_PROFILE_SEVERITY``, ``FHIR_PROFILE_BASE_CHECKS``.

    ``enforce_profiles`` is a comma-separated list, off (empty) by default so
    that plain FHIR clients keep working unless the operator decides:

    * ``mrtc`` - every IG profile on its resource type;
    * ``Patient`` - the IG profile(s) of that type;
    * ``Patient=https://.../StructureDefinition/mrtc-patient`` - that profile.

    A type with several IG profiles (Observation: weight, height, BMI) is
    enforced per resource through each profile's fixed/pattern ``code``: a
    body-weight observation must satisfy the body-weight profile, a blood
    pressure is left alone.
    """

    model_config = SettingsConfigDict(env_prefix="FHIR_", env_file=None, extra="ignore")

    enforce_profiles: str = ""
    unknown_profile_severity: Literal["warning", "error"] = "warning"
    profile_base_checks: bool = True


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
    # docs/decisions/0016-durable-writes.md.
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
    # Request URLs (path and query as sent) longer than this get a 414 OperationOutcome;
    # 8 KiB is what common reverse proxies pass by default. Longer searches: POST _search.
    max_url_bytes: int = Field(default=8 * 1024, ge=1024)
    # What the HTTP server reads of a request line and headers before answering a plain 400
    # itself; above max_url_bytes so that the server answers over-long URLs with a 414.
    max_request_head_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    # uvicorn's HTTP/1.1 parser: "httptools" (default, the fast one; what it cannot parse,
    # over-long URLs included, is answered with an OperationOutcome by http_server.py) or
    # "h11" (pure Python, reads request heads up to max_request_head_bytes).
    http_parser: Literal["h11", "httptools"] = "httptools"
    # JSON nesting allowed in a request body and in any resource stored (MongoDB refuses
    # documents nested over 100 levels; real resources stay far below 64).
    max_depth: int = Field(default=64, ge=8, le=90)

    # Writes refuse a literal reference to a local resource that does not exist
    # (format and target type are always checked; see docs/decisions/0012-references.md)
    referential_integrity: bool = True

    # History and search paging
    default_count: int = 20
    max_count: int = 1000

    # Implementation guide (FHIR JSON files with an index.json), served read-only
    ig_dir: Path = DEFAULT_IG_DIR

    # FastAPI's native OpenTelemetry spans and metrics (off: they cost CPU on every request)
    telemetry: bool = False

    # Logging
    log_level: str = "INFO"
    log_json: bool = True

    # Subsystem groups, each with its own variables (see their docstrings).
    search: SearchSettings = Field(default_factory=SearchSettings)
    profiles: ProfileSettings = Field(default_factory=ProfileSettings)
