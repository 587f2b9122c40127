"""Runtime configuration: one ``Settings`` object, read once from ``FHIR_*`` variables.

Every tunable lives here so that operators find them in one place and code
never carries scattered constants. The object is built once (by the CLI, or
by a test exactly as the CLI does) and injected: ``create_app(settings)``
hands it to the services, and nothing reads the environment behind its back.
The groups that belong to one subsystem (``search``, ``profiles``) keep
their own prefix so that each reads like the subsystem it tunes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The implementation guide shipped with the code: package data, built from the source
# ``ig/`` (in a checkout ``fhir_server/data/ig`` is a link to it, in a wheel a copy of
# it). One rule wherever the server runs; FHIR_IG_DIR overrides it.
DEFAULT_IG_DIR = Path(__file__).resolve().parent / "data" / "ig"

Positive = Annotated[int, Field(gt=0)]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?[KMGT]?$", re.IGNORECASE)
_INDEX_ITEM = re.compile(r"^(\*|[A-Z][A-Za-z]*)\.[A-Za-z_][A-Za-z0-9_\-]*$")
_DATABASE_NAME = re.compile(r"^[^/\\. \"$*<>:|?]{1,63}$")


class SearchSettings(BaseSettings):
    """``FHIR_SEARCH_*``: the bounds that keep one search from costing the whole server.

    How many ids a chain or ``_has`` may feed into the outer query, how many
    resources ``_include`` may add, how deep chains and ``:iterate`` may go.
    The general page sizes (``default_count``, ``max_count``) are top-level.
    """

    model_config = SettingsConfigDict(env_prefix="FHIR_SEARCH_", env_file=None, extra="ignore")

    max_chain_ids: Positive = 1000  # ids a chained / _has sub-query may return
    max_chain_depth: Positive = 4
    max_include: Positive = 1000  # resources _include + _revinclude may add to one page
    max_iterate_depth: Positive = 3
    max_criteria: Positive = 30  # parameters in one search
    max_or_values: Positive = 100  # comma-separated values in one parameter
    max_value_length: Positive = 512
    max_wildcards: Positive = 4  # '%' in one :wildcard value
    windowed_paging: bool = True  # id windows for deep pages (see storage.paging)
    sorted_windows: bool = True  # sort-key windows for sorted pages (see storage.sorted_paging)
    scan_budget: Positive = 20000  # documents one page may examine when residual filters drop some
    # An access restriction listing more records than this is checked on the candidates of the
    # query's own criteria instead of as an `$in` in the filter (storage.query): the embedded
    # database's `$in` grows much faster than its length (2,000 keys: seconds).
    restriction_in_limit: Positive = 64
    # Which parameters get a MongoDB index: "default" (fhir_server/data/search-indexes.json
    # plus the IG's own parameters), "all", or a comma list of Type.code / *.code to add
    # to the defaults. Every index is paid on every write of its type.
    indexes: str = "default"

    @field_validator("indexes")
    @classmethod
    def _index_selection(cls, value: str) -> str:
        if value.strip().lower() == "all":
            return value
        for item in filter(None, (i.strip() for i in value.split(","))):
            if item != "default" and not _INDEX_ITEM.match(item):
                raise ValueError(
                    f"'{item}' is not 'default', 'all' or Type.code / *.code (e.g. Patient.name)"
                )
        return value


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
    ttl_seconds: int = 3600  # default lifetime of a development token
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


class NotifySettings(BaseSettings):
    """``FHIR_SMTP_URL``, ``FHIR_MAIL_FROM``, ``FHIR_NOTIFY_*``: notifications and their e-mails.

    E-mails leave through an outbox drained by a background worker
    (``fhir_server.notify``). ``smtp_url`` (``smtp://host:port``,
    ``smtp+starttls://user:password@host:587``, ``smtps://...:465``) selects the
    server; empty, the mails are written as ``.eml`` files under
    ``<data dir>/mail``. A failed delivery is retried after
    ``retry_base_seconds`` doubled at each attempt, up to ``retry_max_seconds``.
    """

    model_config = SettingsConfigDict(env_prefix="FHIR_", env_file=None, extra="ignore")

    smtp_url: str = ""
    smtp_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    mail_from: str = "MRTC coordination <no-reply@mrtc.example.org>"
    # The booklet's "Centre de services du ROR" (aide@iess.fr in the region of the booklet).
    ror_service_centre_email: str = "aide@iess.fr"
    notify_poll_seconds: Annotated[float, Field(gt=0)] = 2.0
    notify_retry_base_seconds: Annotated[float, Field(gt=0)] = 1.0
    notify_retry_max_seconds: Annotated[float, Field(gt=0)] = 300.0
    notify_batch: Positive = 50
    notify_lease_seconds: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname):
            raise ValueError("must be smtp://host[:port], smtps://... or smtp+starttls://...")
        return value


class DirectorySettings(BaseSettings):
    """``FHIR_DIRECTORY`` (``local`` | ``ror``) and ``FHIR_ROR_*``: the professionals' directory.

    ``local`` (the default) serves the fictional PACA directory shipped as
    package data (or ``FHIR_DIRECTORY_FILE``); ``ror`` queries the regional
    ROR FHIR API with an OAuth2 client-credentials token and the four
    ``Ror-*`` headers its onboarding gives.
    """

    model_config = SettingsConfigDict(env_prefix="FHIR_", env_file=None, extra="ignore")

    kind: Literal["local", "ror"] = Field(
        default="local", validation_alias=AliasChoices("FHIR_DIRECTORY", "kind")
    )
    directory_file: str = ""  # a FHIR Bundle replacing the shipped local directory
    ror_base_url: str = ""
    ror_token_url: str = ""
    ror_client_id: str = ""
    ror_client_secret: str = ""
    ror_profile_code: str = ""  # Ror-Profil-Utilisateur-Code
    ror_profile_system: str = ""  # Ror-Profil-Utilisateur-System
    ror_role_code: str = ""  # Ror-Role-Metier-Code
    ror_role_system: str = ""  # Ror-Role-Metier-System
    ror_region_tag: str = (  # PACA (INSEE region 93) in TRE_R30-RegionOM
        "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM|93"
    )
    ror_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    ror_retries: Annotated[int, Field(ge=0)] = 2
    ror_backoff_seconds: Annotated[float, Field(ge=0)] = 0.5
    ror_cache_seconds: Annotated[float, Field(ge=0)] = 300.0
    ror_max_pages: Positive = 50


class Settings(BaseSettings):
    """Server settings; each field maps to ``FHIR_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FHIR_", env_file=None, extra="ignore")

    # Database: when ``mongodb_uri`` is empty the embedded server is started.
    mongodb_uri: str = ""
    database: str = "fhir"
    data_dir: Path = Path("./data")
    embedded_command: str = "secantusd-py"
    embedded_start_timeout: Annotated[float, Field(gt=0)] = 30.0
    embedded_cache_size: str = "1G"
    db_timeout_ms: Positive = 5000
    # A 2xx promises the write is on disk: journaled commits (the embedded database
    # fsyncs its journal on every commit; a replica set acknowledges with
    # ``w: majority, j: true``). False trades that promise for throughput: a crash can
    # then lose writes acknowledged in the last fraction of a second. See
    # docs/decisions/0016-durable-writes.md.
    durable_writes: bool = True
    # Supervision of the embedded database (storage/supervisor.py): restarts after it
    # dies, each after a doubling delay, before the server gives up and exits non-zero.
    # (seconds: the first delay, doubled up to the max; how often the child process is
    # checked; the uptime after which past restarts are forgotten).
    embedded_restart_attempts: Annotated[int, Field(ge=0)] = 5
    embedded_restart_delay: Annotated[float, Field(gt=0)] = 0.5
    embedded_restart_delay_max: Annotated[float, Field(gt=0)] = 8.0
    embedded_watch_interval: Annotated[float, Field(gt=0)] = 0.1
    embedded_stable_after: Annotated[float, Field(gt=0)] = 60.0
    db_retry_after: Positive = 2  # seconds, the Retry-After of a 503 while the database is down

    # HTTP
    base_url: str = ""  # absolute base for links; derived from the request when empty
    max_body_bytes: Positive = 10 * 1024 * 1024
    gzip_min_bytes: Annotated[int, Field(ge=0)] = 1024
    # Proxies whose X-Forwarded-Proto / X-Forwarded-For are trusted (comma list, or *)
    forwarded_allow_ips: str = "127.0.0.1"
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

    # Several processes on one database: how often (at most) a process checks whether
    # another one changed what it caches (runtime SearchParameters). 0: before every request.
    shared_state_check_ms: Annotated[int, Field(ge=0)] = 1000

    # Writes refuse a literal reference to a local resource that does not exist
    # (format and target type are always checked; see docs/decisions/0012-references.md)
    referential_integrity: bool = True

    # Which Patients the identity-vigilance rules apply to (resources/identity/rules.py,
    # decision 0021): "mrtc" - every Patient that claims the MRTC profile or carries its
    # identity data (status, birth place); "all" - every Patient, whoever writes it.
    identity_rules: Literal["mrtc", "all"] = "mrtc"
    # The civil time zone of the pathways' dates ("today" for the dashboard's overdue flag)
    time_zone: str = "Europe/Paris"

    # History and search paging
    default_count: Positive = 20
    max_count: Positive = 1000

    # Implementation guide (FHIR JSON files with an index.json), served read-only
    ig_dir: Path = DEFAULT_IG_DIR

    # FastAPI's native OpenTelemetry spans and metrics (off: they cost CPU on every request)
    telemetry: bool = False

    # The care circle's role display order: role codes, most important first; empty: the
    # ``priority`` property of the IG's mrtc-care-circle-role CodeSystem.
    care_circle_role_order: str = ""

    # Logging
    log_level: str = "INFO"
    log_json: bool = True

    # Subsystem groups, each with its own variables (see their docstrings). A new group is
    # a BaseSettings class with its own env_prefix and one field here: validation, error
    # messages and ``fhir-server config`` find it through ``settings_groups()``.
    search: SearchSettings = Field(default_factory=SearchSettings)
    profiles: ProfileSettings = Field(default_factory=ProfileSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    # not ``directory``: FHIR_DIRECTORY is the directory kind (local | ror) of this group
    professional_directory: DirectorySettings = Field(default_factory=DirectorySettings)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone name such as Europe/Paris") from None
        return value

    @field_validator("mongodb_uri")
    @classmethod
    def _mongodb_uri(cls, value: str) -> str:
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("a MongoDB connection string starts with mongodb:// or mongodb+srv://")
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not _DATABASE_NAME.match(value):
            raise ValueError('a MongoDB database name: 1 to 63 characters, none of /\\. "$*<>:|?')
        return value

    @field_validator("embedded_cache_size")
    @classmethod
    def _cache_size(cls, value: str) -> str:
        if not _SIZE.match(value):
            raise ValueError("a size such as 512M or 1G")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("an absolute http:// or https:// URL (the public base of the server)")
        if parts.query or parts.fragment:
            raise ValueError("a base URL has no query or fragment")
        return value

    @model_validator(mode="after")
    def _page_sizes(self) -> Settings:
        if self.default_count > self.max_count:
            raise ValueError(
                f"FHIR_DEFAULT_COUNT ({self.default_count}) exceeds FHIR_MAX_COUNT "
                f"({self.max_count})"
            )
        return self


def settings_groups() -> dict[str, type[BaseSettings]]:
    """The nested groups of ``Settings`` (``search``, ``profiles``, ...), by field name."""
    out: dict[str, type[BaseSettings]] = {}
    for name, info in Settings.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings):
            out[name] = info.annotation
    return out


def environment_name(model: type[BaseSettings], field: str) -> str:
    """The variable that sets ``field`` of ``model``: its prefix plus the field, upper case,
    unless the field names its variable itself (``FHIR_BREAK_GLASS_SECONDS``)."""
    info = model.model_fields.get(field)
    if info is None:  # validation errors name an aliased field by its variable
        return field.upper()
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0].upper()
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "CREDENTIAL", "PRIVATE_KEY")


def is_secret(name: str) -> bool:
    """Whether a variable's value must never be printed (by its name)."""
    return any(word in name.upper() for word in _SECRET_WORDS)


def masked_uri(uri: str) -> str:
    """A connection string with its password (and secret-looking options) replaced by ***."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hosts}" if ":" in userinfo else f"{user}@{hosts}"
    query = urlencode(
        [(k, "***" if is_secret(k) else v) for k, v in parse_qsl(parts.query)], safe=",:*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown(name: str, value: Any) -> str:
    """A setting's value as it may be printed: secrets masked, passwords out of URLs."""
    if isinstance(value, bool):
        return str(value).lower()
    text = "" if value is None else str(value)
    if is_secret(name) and text:
        return "***"
    return masked_uri(text) if "://" in text else text


def effective_environment(settings: Settings) -> Iterator[tuple[str, str]]:
    """Every setting as the ``FHIR_*`` variable that sets it and its value, secrets masked."""
    groups = settings_groups()
    for field in Settings.model_fields:
        if field in groups:
            group = getattr(settings, field)
            for sub in type(group).model_fields:
                name = environment_name(type(group), sub)
                yield name, shown(name, getattr(group, sub))
        else:
            name = environment_name(Settings, field)
            yield name, shown(name, getattr(settings, field))
