"""Normalisation shared by indexing and querying, so both sides agree byte for byte.

Strings are compared case- and accent-insensitively (``raphael`` finds
``Raphaël`` whichever Unicode form either side used), dates become half-open
``[low, high)`` UTC ranges whose width is the precision written, and
quantities are converted to canonical UCUM units so ``70000 g`` equals
``70 kg``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

# BSON dates carry milliseconds; these are the ends of the representable scale.
# Every date of the search model is time-zone aware UTC, like the dates the
# server's database client returns (``tz_aware=True``): comparing an aware
# stored value with a naive query value would raise.
MIN_DATE = datetime(1, 1, 1, tzinfo=UTC)
MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
MAX_STRING = "\U0010ffff"  # sorts after every other code point (and UTF-8 byte string)


def norm_string(text: str) -> str:
    """Lower-case, strip accents (combining marks) and return NFC.

    Decomposing first makes NFC and NFD inputs identical; ``casefold`` is the
    Unicode-aware lower-casing (``ß`` -> ``ss``). Whitespace runs collapse to
    one space because names typed by hand differ there more than anywhere.
    """
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", " ".join(stripped.casefold().split()))


def prefix_range(prefix: str) -> dict[str, str]:
    """A MongoDB range matching every string that starts with ``prefix``.

    A range rides an index on every planner; an anchored ``$regex`` does not
    on the embedded database (see DESIGN.md). On a multikey array MongoDB
    lets two different values satisfy the two bounds, so callers treat the
    range as a superset and confirm the prefix on the values themselves.
    """
    return {"$gte": prefix, "$lt": prefix + MAX_STRING}


# --------------------------------------------------------------------- dates

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """Parse a FHIR date/dateTime/instant (possibly partial) into ``[low, high)`` UTC.

    ``2010`` covers the whole year, ``2010-05-03T10:00+02:00`` the minute
    08:00-08:01 UTC. A time without a zone is read as UTC, the server's zone.
    Returns ``None`` when ``text`` is not a FHIR date.
    """
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        year = int(m["y"])
        if m["m"] is None:
            low = datetime(year, 1, 1, tzinfo=UTC)
            high = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else MAX_DATE
            return low, high
        month = int(m["m"])
        if m["d"] is None:
            low = datetime(year, month, 1, tzinfo=UTC)
            if month == 12:
                high = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else MAX_DATE
            else:
                high = datetime(year, month + 1, 1, tzinfo=UTC)
            return low, high
        day = int(m["d"])
        if m["H"] is None:
            low = datetime(year, month, day, tzinfo=UTC)
            return low, _add(low, timedelta(days=1))
        hour, minute = int(m["H"]), int(m["M"] or 0)
        second = int(m["S"] or 0)
        frac = m["f"] or ""
        micro = int((frac + "000000")[:6]) if frac else 0
        low = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        if m["M"] is None:
            width = timedelta(hours=1)
        elif m["S"] is None:
            width = timedelta(minutes=1)
        elif not frac:
            width = timedelta(seconds=1)
        else:
            width = timedelta(milliseconds=1)
            low = low.replace(microsecond=(micro // 1000) * 1000)
        if m["tz"] and m["tz"] != "Z":
            sign = 1 if m["tz"][0] == "+" else -1
            offset = timedelta(hours=int(m["tz"][1:3]), minutes=int(m["tz"][4:6]))
            low = low - sign * offset
        return low, _add(low, width)
    except (ValueError, OverflowError):
        return None


def _add(dt: datetime, delta: timedelta) -> datetime:
    try:
        return dt + delta
    except OverflowError:
        return MAX_DATE


def to_utc(dt: datetime) -> datetime:
    """An aware UTC instant at BSON's millisecond precision (naive input is read as UTC)."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=(dt.microsecond // 1000) * 1000)


# ------------------------------------------------------------------- numbers


def parse_decimal(text: str) -> Decimal | None:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def implicit_range(d: Decimal) -> tuple[Decimal, Decimal]:
    """The range a number written with this precision stands for: ``100`` is [99.5, 100.5)."""
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return d - half, d + half


# ---------------------------------------------------------- canonical UCUM

UCUM = "http://unitsofmeasure.org"

# unit code -> (canonical code, factor): value_in_canonical = value * factor.
_UCUM_CANONICAL: dict[str, tuple[str, Decimal]] = {
    # mass
    "g": ("g", Decimal(1)),
    "kg": ("g", Decimal(1000)),
    "mg": ("g", Decimal("0.001")),
    "ug": ("g", Decimal("0.000001")),
    "ng": ("g", Decimal("1e-9")),
    "[lb_av]": ("g", Decimal("453.59237")),
    "[oz_av]": ("g", Decimal("28.349523125")),
    # length
    "m": ("m", Decimal(1)),
    "cm": ("m", Decimal("0.01")),
    "mm": ("m", Decimal("0.001")),
    "km": ("m", Decimal(1000)),
    "[in_i]": ("m", Decimal("0.0254")),
    "[ft_i]": ("m", Decimal("0.3048")),
    # body mass index and other area densities
    "kg/m2": ("g/m2", Decimal(1000)),
    "g/m2": ("g/m2", Decimal(1)),
    "kg/m^2": ("g/m2", Decimal(1000)),
    # volume
    "L": ("L", Decimal(1)),
    "l": ("L", Decimal(1)),
    "dL": ("L", Decimal("0.1")),
    "mL": ("L", Decimal("0.001")),
    # time
    "s": ("s", Decimal(1)),
    "min": ("s", Decimal(60)),
    "h": ("s", Decimal(3600)),
    "d": ("s", Decimal(86400)),
    "wk": ("s", Decimal(604800)),
    "ms": ("s", Decimal("0.001")),
}

# Units clients write without a UCUM system, read as the UCUM code they mean.
_UNIT_ALIASES = {
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "in": "[in_i]",
    "inch": "[in_i]",
    "oz": "[oz_av]",
    "ft": "[ft_i]",
    "kg/m²": "kg/m2",
}


def canonical_quantity(
    value: Decimal, system: str | None, code: str | None
) -> tuple[Decimal, str | None, str | None]:
    """Convert ``(value, system, code)`` to canonical UCUM when the unit is known.

    Returns ``(value, system, code)``; unknown units pass through unchanged so
    they still match themselves exactly.
    """
    if code is None:
        return value, system, code
    if system in (UCUM, None, ""):
        ucum_code = code if system == UCUM else _UNIT_ALIASES.get(code, code)
        known = _UCUM_CANONICAL.get(ucum_code)
        if known is not None:
            canonical, factor = known
            return value * factor, UCUM, canonical
    return value, system, code
