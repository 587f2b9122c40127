"""How identity-vigilance compares names: ``Thérèse`` = ``THERESE``, ``Jean-Luc`` = ``JEAN LUC``.

Names are stored exactly as entered (the RNIV keeps the civil-status
spelling); only comparisons use the normalised form: case folded, accents and
diaeresis removed, hyphens, apostrophes and other separators turned into one
space. ``key`` then drops the spaces too, so ``D'Artagnan``, ``D ARTAGNAN``
and ``Dartagnan`` compare equal.
"""

from __future__ import annotations

import unicodedata

# Characters people type between the parts of a compound name.
_SEPARATORS = frozenset("-'`.,_/\u2010\u2011\u2012\u2013\u2014\u2018\u2019\u00b4")


def words(text: str) -> list[str]:
    """The normalised words of a name: casefolded, no accents, separators as spaces."""
    decomposed = unicodedata.normalize("NFD", text)
    out = []
    for c in decomposed:
        if unicodedata.combining(c):
            continue
        out.append(" " if c in _SEPARATORS or c.isspace() else c)
    return "".join(out).casefold().split()


def normalised(text: str) -> str:
    """The comparison form of a name: its words joined by one space."""
    return " ".join(words(text))


def key(text: str) -> str:
    """The equality key of a name: its words with nothing between them."""
    return "".join(words(text))


def glob_pieces(pattern: str) -> list[str]:
    """The booklet's ``%`` wildcard (``T%se``): the keys of the pieces between wildcards."""
    return [key(piece) for piece in pattern.split("%")]


def glob_match(pieces: list[str], text: str) -> bool:
    """Does ``text``'s key start with the first piece and contain the others in order?

    Whole-key semantics (``T%se`` finds Thérèse, not Thérèsette... unless the
    pattern ends with ``%``): the last piece must end the key. Linear greedy
    scan, no regular expression: no input can make it backtrack.
    """
    target = key(text)
    if not target.startswith(pieces[0]):
        return False
    pos = len(pieces[0])
    middle, last = pieces[1:-1], pieces[-1] if len(pieces) > 1 else None
    for piece in middle:
        found = target.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    if last is None:
        return pos == len(target)
    return target.endswith(last) and len(target) - len(last) >= pos


def has_wildcard(text: str) -> bool:
    return "%" in text


def masked(text: str) -> str:
    """A name shown to someone who may not open the record: its initial, then three stars.

    Always three: the length of a name would tell more than its initial.
    """
    letters = normalised(text).replace(" ", "")
    return (letters[0].upper() if letters else "") + "***"
