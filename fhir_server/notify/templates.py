"""The French e-mail templates of each notification kind, read from package data.

A template is ``fhir_server/data/notify/<kind>.txt``: a ``Subject:`` line, a
blank line, then the body, with ``${name}`` placeholders (``string.Template``).
Wording is data: changing a sentence never touches code. A placeholder the
caller did not supply is left blank rather than failing the write that
caused the notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "data" / "notify"


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@cache
def _load(kind: str) -> tuple[Template, Template]:
    path = TEMPLATE_DIR / f"{kind}.txt"
    if not path.is_file():
        raise KeyError(f"no notification template {kind!r} in {TEMPLATE_DIR}")
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise KeyError(f"notification template {kind!r} does not start with 'Subject:'")
    return Template(head.removeprefix("Subject:").strip()), Template(body.strip() + "\n")


def kinds() -> list[str]:
    """Every template shipped (one per notification kind)."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt"))


def render(kind: str, values: Mapping[str, str]) -> Rendered:
    subject, body = _load(kind)
    filled = _Blank({k: str(v) for k, v in values.items()})
    return Rendered(
        " ".join(subject.substitute(filled).split()),  # one line, whatever the values hold
        body.substitute(filled),
    )
