"""The operations' plain-function tests validate against the profiles tests' small IG."""

from tests.profiles.conftest import patient, source, validator, weight

__all__ = ["patient", "source", "validator", "weight"]
