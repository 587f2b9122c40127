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

from pydantic import AliasChoices, Field
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


class AuthSettings(BaseSettings):
    """``FHIR_AUTH_*`` and ``FHIR_BREAK_GLASS_SECONDS``: who may call, and for how long.

    Authentication is always on. With ``jwks`` empty the server is its own
    development issuer: a key pair is generated once under the data
    directory and ``fhir-server token`` signs tokens with it. In production
    ``jwks`` names the identity provider's key set (an https URL or a file),
    and ``issuer`` / ``audience`` are what its tokens must say.
    """

    model_config = SettingsConfigDict(env_prefix="FHIR_AUTH_", env_file=None, extra="ignore")

    jwks: str = ""  # https URL or file path of the trusted JWKS; empty: development issuer
    issuer: str = ""  # required ``iss``; empty with ``jwks`` empty: the development issuer's
    audience: str = ""  # required ``aud``; empty with ``jwks`` empty: the development audience
    leeway_seconds: int = 30  # clock skew tolerated on ``exp`` / ``nbf``
    jwks_refresh_seconds: int = 60  # an unknown ``kid`` refetches the JWKS at most this often
    http_timeout_seconds: float = 5.0  # fetching a JWKS URL
    token_ttl_seconds: int = 3600  # default lifetime of a development token
    # Where clients get tokens from the identity provider (advertised in SMART configuration).
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    # How long a caller's resolved identity and visible records are reused. Writes to
    # CareTeam, Task, Practitioner(Role) and break-glass grants in this process reset it at once;
    # the delay only bounds what other server processes see.
    cache_seconds: float = 30.0
    # The booklet's "about two hours" of break-glass access.
    break_glass_seconds: int = Field(
        default=7200,
        validation_alias=AliasChoices("FHIR_BREAK_GLASS_SECONDS", "break_glass_seconds"),
    )


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
    auth: AuthSettings = Field(default_factory=AuthSettings)
