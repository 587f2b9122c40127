"""The booklet's name matching: "Raphaël" = "RAPHAEL" = "raphael", "T%se" finds "Thérèse".

"Dans le cadre de la recherche, les minuscules, les majuscules, les accents,
le tréma ne sont pas différenciés" and "la recherche peut être effectuée en
remplaçant une ou plusieurs lettres du Nom ou du Prénom par un caractère
spécial". Text is folded (NFKD without combining marks, ligatures spelt out,
case folded); a pattern matches from the start of a name (as FHIR string
search does), each ``%`` standing for any run of letters. Every other
character of the pattern is literal: a pattern is data, never a regex.
"""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def pattern(value: str) -> re.Pattern[str]:
    """A folded starts-with matcher for ``value``, ``%`` = any letters."""
    parts = [re.escape(part) for part in fold(value).split("%")]
    return re.compile(".*?".join(parts))


def matches(compiled: re.Pattern[str], *texts: str) -> bool:
    """Whether one of ``texts`` (already folded) starts with the pattern."""
    return any(compiled.match(t) for t in texts)


def words(text: str) -> list[str]:
    """The folded text and each of its word suffixes ("MSP Cap Sud" -> "cap sud", "sud")."""
    folded = fold(text)
    tokens = re.split(r"[\s\-'\u2019,()/]+", folded)
    out = [folded]
    for i in range(1, len(tokens)):
        out.append(" ".join(tokens[i:]))
    return [w for w in out if w]
