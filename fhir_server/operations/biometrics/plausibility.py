"""What a measure may be: physically possible (else refused), plausible for the age (else flagged).

Read from the IG's ``ObservationDefinition`` of each measure (weight, height,
BMI): the ``absolute`` qualified interval is the physically possible range
(the same numbers as the profiles' ``-1`` constraints), the ``reference``
intervals of context ``mrtc-biometric-flag#implausible-for-age`` give, per age
band ``[low, high)`` in years, the range a data-entry check expects. A value
outside it is kept, tagged ``implausible-for-age`` and reported as a warning
(decision 0035).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.ig import ImplementationGuide, ImplementationGuideError
from fhir_server.operations.biometrics.codes import FLAG_SYSTEM, IMPLAUSIBLE, LOINC, MEASURES


@dataclass(frozen=True)
class Band:
    age_low: float
    age_high: float | None
    low: float
    high: float
    unit: str


@dataclass(frozen=True)
class Ranges:
    possible: tuple[float, float] | None
    unit: str  # the UCUM code of the measure
    bands: tuple[Band, ...]

    def band(self, age_years: float) -> Band | None:
        for band in self.bands:
            if age_years >= band.age_low and (band.age_high is None or age_years < band.age_high):
                return band
        return None


def _value(quantity: Any) -> float | None:
    value = quantity.get("value") if isinstance(quantity, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _is_plausibility(interval: dict[str, Any]) -> bool:
    codings = (interval.get("context") or {}).get("coding") or ()
    return any(c.get("system") == FLAG_SYSTEM and c.get("code") == IMPLAUSIBLE for c in codings)


class PlausibleRanges:
    """The ranges of each LOINC measure code."""

    def __init__(self, by_code: dict[str, Ranges]) -> None:
        self._by_code = by_code

    @classmethod
    def from_ig(cls, ig: ImplementationGuide) -> PlausibleRanges:
        by_code: dict[str, Ranges] = {}
        for od in ig.of_type("ObservationDefinition"):
            codes = [
                c.get("code")
                for c in (od.get("code") or {}).get("coding") or ()
                if c.get("system") == LOINC and c.get("code") in MEASURES
            ]
            if not codes:
                continue
            possible: tuple[float, float] | None = None
            bands: list[Band] = []
            for interval in od.get("qualifiedInterval") or ():
                rng = interval.get("range") or {}
                low, high = _value(rng.get("low")), _value(rng.get("high"))
                if low is None or high is None:
                    continue
                if interval.get("category") == "absolute":
                    possible = (low, high)
                elif interval.get("category") == "reference" and _is_plausibility(interval):
                    age = interval.get("age") or {}
                    age_low = _value(age.get("low"))
                    bands.append(
                        Band(
                            age_low or 0.0,
                            _value(age.get("high")),
                            low,
                            high,
                            str((rng.get("low") or {}).get("code", "")),
                        )
                    )
            unit = ((od.get("quantitativeDetails") or {}).get("unit") or {}).get("coding") or [{}]
            by_code[codes[0]] = Ranges(
                possible,
                str(unit[0].get("code", "")),
                tuple(sorted(bands, key=lambda b: b.age_low)),
            )
        missing = [c for c in MEASURES if c not in by_code]
        if missing:
            raise ImplementationGuideError(
                f"the IG has no ObservationDefinition for LOINC {', '.join(missing)}: "
                "biometric plausibility cannot be judged"
            )
        return cls(by_code)

    def possible(self, code: str) -> tuple[float, float] | None:
        return self._by_code[code].possible

    def unit(self, code: str) -> str:
        return self._by_code[code].unit

    def implausible(self, code: str, value: float, age_years: float) -> Band | None:
        """The age band ``value`` falls outside of, or None when it is plausible (or unknown)."""
        band = self._by_code[code].band(age_years)
        if band is None or band.low <= value <= band.high:
            return None
        return band
