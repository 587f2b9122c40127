"""Settings of profile validation, read from ``FHIR_*`` environment variables.

Kept apart from ``fhir_server.settings`` so that the profiles package owns
its knobs; both classes read the same environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from fhir_server.profiles.conformance import DEFAULT_IG_DIR


class ProfileSettings(BaseSettings):
    """``FHIR_ENFORCE_PROFILES``, ``FHIR_UNKNOWN_PROFILE_SEVERITY``, ...

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
    ig_dir: Path = DEFAULT_IG_DIR


@lru_cache(maxsize=1)
def get_profile_settings() -> ProfileSettings:
    return ProfileSettings()
