"""Invariants as short-circuit predicates over compiled FHIRPath parts.

fhirpathpy evaluates both operands of ``implies``/``or``/``and`` before
combining them, and an interpreted FHIRPath node costs microseconds, so a
profile's long invariants (``<rare condition> implies <long check>``)
dominate validation time. The boolean operators at the top of an
expression are therefore split once, at compile time, and combined here with
short-circuit semantics that give the same verdict as evaluating the whole
expression under the HL7 rule (an invariant holds when its result converts
to ``true``):

* ``A implies B`` holds iff ``A`` is ``false`` or ``B`` holds
  (``{} implies B`` is ``true`` only when ``B`` is ``true``);
* ``A or B`` holds iff some operand holds; ``A and B`` iff every operand holds.

Precedence follows FHIRPath: ``implies`` < ``or``/``xor`` < ``and``; an
expression with a top-level ``xor`` is evaluated whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Compiled = Callable[..., list[Any]]
Runner = Callable[[Compiled], list[Any]]

_IMPLIES = re.compile(r"\simplies\s")
_OR = re.compile(r"\sor\s")
_AND = re.compile(r"\sand\s")
_XOR = re.compile(r"\sxor\s")
_OPEN = {"(": ")", "[": "]", "{": "}"}


def holds(result: list[Any]) -> bool:
    """The HL7 validator's conversion of an invariant's result to a verdict."""
    if not result:
        return False
    if len(result) == 1 and isinstance(result[0], bool):
        return result[0]
    return True


@dataclass(frozen=True)
class Predicate:
    """``expr`` (a compiled expression) or an ``or``/``and``/``implies`` of predicates."""

    kind: str
    fn: Compiled | None = None  # expr: the expression; implies: the condition
    parts: tuple[Predicate, ...] = ()

    def holds(self, run: Runner) -> bool:
        if self.kind == "expr":
            assert self.fn is not None
            return holds(run(self.fn))
        if self.kind == "or":
            return any(p.holds(run) for p in self.parts)
        if self.kind == "and":
            return all(p.holds(run) for p in self.parts)
        assert self.fn is not None
        return run(self.fn) == [False] or self.parts[0].holds(run)


def mask(expression: str) -> str:
    """The expression with everything inside quotes and brackets replaced by ``x``."""
    out: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in expression:
        if quote is not None:
            out.append("x")
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in ("'", "`"):
            quote = ch
            out.append("x")
        elif ch in _OPEN:
            stack.append(_OPEN[ch])
            out.append(ch if len(stack) == 1 else "x")
        elif stack and ch == stack[-1]:
            stack.pop()
            out.append(ch if not stack else "x")
        else:
            out.append(ch if not stack else "x")
    return "".join(out)


def _split(expression: str, masked: str, pattern: re.Pattern[str]) -> list[str]:
    parts, start = [], 0
    for m in pattern.finditer(masked):
        parts.append(expression[start : m.start()])
        start = m.end()
    parts.append(expression[start:])
    return parts


def _unwrap(expression: str) -> str:
    """``(A or B)`` -> ``A or B`` when the parentheses enclose the whole expression."""
    text = expression.strip()
    while text.startswith("(") and text.endswith(")"):
        masked = mask(text)
        # One group spanning the whole text: no depth-0 character except the outer pair.
        if masked[1:-1].strip("x") != "":
            break
        text = text[1:-1].strip()
    return text


def compile_predicate(
    expression: str, compile_fn: Callable[[str], Compiled | None]
) -> Predicate | None:
    """Split top-level boolean operators; ``None`` if the expression does not compile."""
    text = _unwrap(expression)
    masked = mask(text)
    implies = list(_IMPLIES.finditer(masked))
    if implies:
        last = implies[-1]
        condition = compile_fn(text[: last.start()])
        consequent = compile_predicate(text[last.end() :], compile_fn)
        if condition is not None and consequent is not None:
            return Predicate("implies", condition, (consequent,))
    elif not _XOR.search(masked):
        for kind, pattern in (("or", _OR), ("and", _AND)):
            pieces = _split(text, masked, pattern)
            if len(pieces) > 1:
                parts = [compile_predicate(p, compile_fn) for p in pieces]
                if all(p is not None for p in parts):
                    return Predicate(kind, parts=tuple(p for p in parts if p is not None))
                break
    fn = compile_fn(text)
    return Predicate("expr", fn) if fn is not None else None
