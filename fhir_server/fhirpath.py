"""FHIRPath, compiled once: the one wrapper around ``fhirpathpy``.

Three callers evaluate FHIRPath, each with functions of its own: search
extraction (``resolve()`` typed by the reference), profile invariants
(``hasValue``, ``memberOf``, ...), and the SDC extraction of questionnaire
answers (``round`` rounding half up). Each builds one ``Compiler`` with its
function table; this module owns the engine options, the strict syntax check
the engine lacks, and the compile cache, so an expression is parsed once per
caller for the life of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as _models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

R4_MODEL: Any = _models["r4"]
Evaluator = Callable[..., list[Any]]
# fhirpathpy's ``userInvocationTable`` form: name -> {"fn": callable, "arity": {n: [types]}}
FunctionTable = Mapping[str, Mapping[str, Any]]


class _RaisingListener(ErrorListener):  # type: ignore[misc]
    def syntaxError(
        self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise ValueError(f"column {column}: {msg}")


def check_syntax(expression: str) -> None:
    """Raise ``ValueError`` on a FHIRPath syntax error.

    The engine's own parser recovers silently from errors, which would turn a
    typo in an IG invariant or a runtime SearchParameter into an expression
    that never fails or indexes nothing; so every expression is parsed once
    more, strictly, before it is compiled.
    """
    listener = _RaisingListener()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.expression()
    if parser.getCurrentToken().type != Token.EOF:
        raise ValueError(f"unexpected text after the expression {expression!r}")


def _ignore_trace(label: str, value: Any) -> None:
    return None


class Compiler:
    """Compiles expressions with one function table and caches the evaluators.

    Compilation is serialised (the ANTLR runtime is not safe to share across
    threads while it builds a parser); evaluation is not.
    """

    def __init__(self, functions: FunctionTable | None = None) -> None:
        self._options: dict[str, Any] = {
            "userInvocationTable": dict(functions or {}),
            "traceFn": _ignore_trace,  # core invariants call trace(); keep stdout clean
        }
        self._cache: dict[tuple[str, bool], Evaluator] = {}
        self._lock = threading.Lock()

    def compile(self, expression: str, *, nodes: bool = False) -> Evaluator:
        """The evaluator of ``expression``; ``ValueError`` when it does not parse.

        ``nodes=True`` returns the engine's nodes, which remember their path,
        so relative expressions evaluated on them later can still resolve
        choice types (a composite's ``value.as(Quantity)``).
        """
        key = (expression, nodes)
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                check_syntax(expression)
                options = dict(self._options, returnRawData=True) if nodes else self._options
                try:
                    found = cast("Evaluator", fhirpathpy.compile(expression, R4_MODEL, options))
                except Exception as exc:  # fhirpathpy raises bare Exceptions
                    raise ValueError(str(exc)) from exc
                self._cache[key] = found
        return found


def element_node(value: Any, path: str | None = None) -> Any:
    """``value`` as an engine node typed by ``path``, so choice types resolve on it."""
    return ResourceNode.create_node(value, path)  # type: ignore[no-untyped-call]


def node_data(item: Any) -> Any:
    """The JSON value of an engine node (a plain value is its own data)."""
    return item.data if isinstance(item, ResourceNode) else item


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on its top-level ``|`` operators."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'" and (i == 0 or expression[i - 1] != "\\"):
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]
