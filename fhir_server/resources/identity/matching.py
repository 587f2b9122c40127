"""Grading a candidate record against searched identity traits.

The booklet's "Rechercher si le patient est existant": the coordinator types
the five strict traits; the server lists the records that may be the same
child, ranked, each with a grade (FHIR's ``match-grade`` extension) and the
reason per trait. Each trait compares to one of:

* ``match``: equal once normalised (case, accents, hyphens, apostrophes);
* ``partial``: a weaker agreement — a ``%`` wildcard that fits, a compound
  name of which one part agrees, the given name found among the birth given
  names or as the used first name, the family name as the used name, the
  day and month of the birth date swapped;
* ``missing``: absent or a placeholder on either side (never evidence);
* ``mismatch``: both known and different.

Grades (FHIR R4 ``match-grade``: certain | probable | possible | certainly-not):

* ``certainly-not``: twins told apart — both ranks known and different;
* ``certain``: the five strict traits known on both sides and all ``match``;
* ``probable``: no mismatch and at least four traits agree (match or partial);
* ``possible``: three agreeing traits and no mismatch, or four and one mismatch;
* anything weaker is not a candidate.

The score (``Bundle.entry.search.score``) weighs each trait by how much it
identifies (names and birth date above sex), so a list sorts the strongest
candidates first within a grade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhir_server.resources.identity import names
from fhir_server.resources.identity.traits import Identity, Placeholders

MATCH, PARTIAL, MISSING, MISMATCH = "match", "partial", "missing", "mismatch"
CERTAIN, PROBABLE, POSSIBLE, CERTAINLY_NOT = "certain", "probable", "possible", "certainly-not"
GRADE_ORDER = {CERTAIN: 0, PROBABLE: 1, POSSIBLE: 2, CERTAINLY_NOT: 3}
WEIGHTS = {
    "birth-family-name": 0.3,
    "first-birth-given-name": 0.2,
    "birth-date": 0.25,
    "gender": 0.1,
    "birth-place-code": 0.15,
}
TRAIT_ORDER = (*WEIGHTS, "birth-rank")


@dataclass(frozen=True)
class Query:
    """The searched traits (any may be missing; names may hold the ``%`` wildcard)."""

    family: str | None = None
    given: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    birth_place: str | None = None
    rank: int | None = None
    used_family: str | None = None

    @classmethod
    def from_identity(cls, identity: Identity) -> Query:
        return cls(
            identity.family,
            identity.given,
            identity.birth_date,
            identity.gender,
            identity.birth_place,
            identity.rank,
            identity.used_family,
        )


@dataclass(frozen=True)
class Match:
    grade: str
    score: float
    traits: tuple[tuple[str, str], ...]  # (trait, match | partial | missing | mismatch)


def _known(placeholders: Placeholders, trait: str, value: str | None) -> str | None:
    if value is None or placeholders.is_placeholder(trait, value):
        return None
    return value


def compare_name(wanted: str, family: str | None, alternatives: tuple[str | None, ...] = ()) -> str:
    """A searched name against a record's birth name (and its used / other names)."""
    if family is None:
        return MISSING
    if names.has_wildcard(wanted):
        pieces = names.glob_pieces(wanted)
        if names.glob_match(pieces, family):
            return PARTIAL
        if any(a is not None and names.glob_match(pieces, a) for a in alternatives):
            return PARTIAL
        return MISMATCH
    if names.key(wanted) == names.key(family):
        return MATCH
    wanted_words, own_words = set(names.words(wanted)), set(names.words(family))
    if (len(wanted_words) > 1 or len(own_words) > 1) and wanted_words & own_words:
        return PARTIAL  # one part of a compound name: "Dupont" for "Dupont-Martin"
    for alt in alternatives:
        if alt is None:
            continue
        if names.key(wanted) == names.key(alt) or names.key(wanted) in names.words(alt):
            return PARTIAL
    return MISMATCH


def _swapped(text: str) -> str | None:
    """``2015-03-04`` -> ``2015-04-03`` when that is a date and a different one."""
    try:
        year, month, day = (int(p) for p in text.split("-"))
        swapped = date(year, day, month).isoformat()
    except ValueError:
        return None
    return swapped if swapped != text else None


def compare_date(wanted: str, own: str) -> str:
    if wanted == own:
        return MATCH
    return PARTIAL if _swapped(wanted) == own else MISMATCH


def grade(query: Query, candidate: Identity, placeholders: Placeholders) -> Match | None:
    """The grade of ``candidate`` for ``query``, or None when it is not a candidate."""
    q_family = _known(placeholders, "birth-family-name", query.family)
    q_given = _known(placeholders, "first-birth-given-name", query.given)
    q_date = _known(placeholders, "birth-date", query.birth_date)
    q_place = _known(placeholders, "birth-place-code", query.birth_place)
    c_family = _known(placeholders, "birth-family-name", candidate.family)
    c_given = _known(placeholders, "first-birth-given-name", candidate.given)
    c_date = _known(placeholders, "birth-date", candidate.birth_date)
    c_place = _known(placeholders, "birth-place-code", candidate.birth_place)
    results: dict[str, str] = {}
    results["birth-family-name"] = (
        MISSING if q_family is None else compare_name(q_family, c_family, (candidate.used_family,))
    )
    if (
        results["birth-family-name"] == MISMATCH
        and query.used_family
        and compare_name(query.used_family, c_family, (candidate.used_family,)) != MISMATCH
    ):
        results["birth-family-name"] = PARTIAL  # the used name typed is its birth name
    other_given: tuple[str | None, ...] = (candidate.used_given, candidate.birth_given_names)
    results["first-birth-given-name"] = (
        MISSING if q_given is None else compare_name(q_given, c_given, other_given)
    )
    results["birth-date"] = (
        MISSING if q_date is None or c_date is None else compare_date(q_date, c_date)
    )
    q_gender = query.gender if query.gender in ("male", "female") else None
    c_gender = candidate.gender if candidate.gender in ("male", "female") else None
    results["gender"] = (
        MISSING if q_gender is None or c_gender is None else _equal(q_gender, c_gender)
    )
    results["birth-place-code"] = (
        MISSING if q_place is None or c_place is None else _equal(q_place, c_place)
    )
    if query.rank is None or candidate.rank is None:
        results["birth-rank"] = MISSING
    else:
        results["birth-rank"] = _equal(str(query.rank), str(candidate.rank))
    strict = [results[t] for t in WEIGHTS]
    full = strict.count(MATCH)
    agreeing = full + strict.count(PARTIAL)
    mismatches = strict.count(MISMATCH)
    score = sum(
        WEIGHTS[t] * {MATCH: 1.0, PARTIAL: 0.6, MISSING: 0.0, MISMATCH: -0.5}[results[t]]
        for t in WEIGHTS
    )
    score = round(max(0.0, min(1.0, score)), 3)
    traits = tuple((t, results[t]) for t in TRAIT_ORDER)
    if results["birth-rank"] == MISMATCH and agreeing >= 3:
        return Match(CERTAINLY_NOT, min(score, 0.05), traits)
    if full == len(WEIGHTS) and results["birth-rank"] != MISMATCH:
        return Match(CERTAIN, 1.0, traits)
    if mismatches == 0 and agreeing >= 4:
        return Match(PROBABLE, min(score, 0.95), traits)
    if (mismatches == 0 and agreeing >= 3) or (mismatches == 1 and agreeing >= 4):
        return Match(POSSIBLE, min(score, 0.75), traits)
    return None


def _equal(a: str, b: str) -> str:
    return MATCH if a == b else MISMATCH


def ranked(matches: list[tuple[str, Match]]) -> list[tuple[str, Match]]:
    """Certain first, then by score, then by id (a stable order for equal candidates)."""
    return sorted(matches, key=lambda m: (GRADE_ORDER[m[1].grade], -m[1].score, m[0]))
