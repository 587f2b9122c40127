"""FHIRPath for invariants: compile once, evaluate on an element in context.

``fhirpathpy`` implements most of FHIRPath but not the FHIR-specific
functions profiles use (``hasValue``, ``htmlChecks``, ``memberOf``,
``conformsTo``, ``resolve``). They are supplied here as user functions:
``memberOf`` is answered by the local terminology service, ``hasValue`` by
the data itself; ``htmlChecks`` and ``conformsTo`` are permissive (the XHTML
and nested-profile checks belong elsewhere) and ``resolve`` finds contained
resources (``#id``) only - it yields nothing for a reference to another
resource, so an invariant that needs one cannot fail spuriously.

The environment holds ``%resource`` and ``%rootResource`` as the FHIR
specification defines them; fhirpathpy itself sets ``%context`` (the element
the invariant is evaluated on) and ``%ucum``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from fhir_server.terminology import TerminologyService

log = logging.getLogger(__name__)

R4_MODEL = models["r4"]


def _has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict)]


def _always_true(inputs: list[Any], *_: Any) -> list[bool]:
    return [True]


# The resource whose ``contained`` list ``resolve()`` searches (set while evaluating).
_CONTAINER: ContextVar[dict[str, Any] | None] = ContextVar("fhirpath_container", default=None)


def _resolve(inputs: list[Any], *_: Any) -> list[Any]:
    """``#id`` references to contained resources; nothing for any other reference."""
    container = _CONTAINER.get() or {}
    contained = container.get("contained")
    out = []
    for item in inputs:
        data = item.data if isinstance(item, ResourceNode) else item
        ref = data.get("reference") if isinstance(data, dict) else data
        if not isinstance(ref, str) or not ref.startswith("#"):
            continue
        for candidate in contained if isinstance(contained, list) else []:
            if isinstance(candidate, dict) and candidate.get("id") == ref[1:]:
                out.append(ResourceNode.create_node(candidate, candidate.get("resourceType")))  # type: ignore[no-untyped-call]
    return out


def _member_of(terminology: TerminologyService | None) -> Callable[[list[Any], Any], list[bool]]:
    def member_of(inputs: list[Any], value_set: Any) -> list[bool]:
        if terminology is None or not inputs:
            return []
        url = value_set[0] if isinstance(value_set, list) else value_set
        item = inputs[0]
        codings: list[tuple[str | None, str]] = []
        if isinstance(item, str):
            codings.append((None, item))
        elif isinstance(item, dict):
            if "coding" in item:
                codings += [(c.get("system"), c.get("code", "")) for c in item["coding"]]
            elif "code" in item:
                codings.append((item.get("system"), item["code"]))
        results = [terminology.member(str(url), s, c) for s, c in codings]
        if any(r is True for r in results):
            return [True]
        if any(r is None for r in results):
            return []
        return [False]

    return member_of


def _ignore_trace(label: str, value: Any) -> None:
    return None


def user_functions(terminology: TerminologyService | None) -> dict[str, Any]:
    """The FHIR-specific FHIRPath functions, in fhirpathpy's invocation-table form."""
    return {
        "hasValue": {"fn": _has_value, "arity": {0: []}},
        "htmlChecks": {"fn": _always_true, "arity": {0: []}},
        "conformsTo": {"fn": _always_true, "arity": {1: ["String"]}},
        "resolve": {"fn": _resolve, "arity": {0: []}},
        "memberOf": {"fn": _member_of(terminology), "arity": {1: ["String"]}},
    }


class _RaisingListener(ErrorListener):  # type: ignore[misc]
    def syntaxError(
        self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise ValueError(f"column {column}: {msg}")


def check_syntax(expression: str) -> None:
    """Raise ValueError on a FHIRPath syntax error.

    fhirpathpy's parser recovers silently from syntax errors, which would turn
    an IG typo into an invariant that never fails; parse once more, strictly.
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
        raise ValueError(f"unexpected trailing input in {expression!r}")


class FhirPathCompiler:
    """Compiles expressions once per (expression) and caches the callables."""

    def __init__(self, terminology: TerminologyService | None = None) -> None:
        self._options = {
            "userInvocationTable": user_functions(terminology),
            "traceFn": _ignore_trace,  # core invariants call trace(); keep stdout clean
        }
        self._cache: dict[str, Callable[..., list[Any]] | None] = {}

    def compile(self, expression: str) -> Callable[..., list[Any]] | None:
        """The compiled expression, or ``None`` if fhirpathpy cannot parse it."""
        if expression not in self._cache:
            try:
                check_syntax(expression)
                self._cache[expression] = fhirpathpy.compile(expression, R4_MODEL, self._options)
            except Exception as exc:  # fhirpathpy raises bare Exceptions
                log.warning("cannot compile FHIRPath %r: %s", expression, exc)
                self._cache[expression] = None
        return self._cache[expression]


def runner(
    value: Any, base_path: str, root: dict[str, Any], root_resource: dict[str, Any] | None = None
) -> Callable[[Any], list[Any]]:
    """Evaluate compiled expressions on ``value``; ``root`` is %resource."""
    if value is root and base_path == root.get("resourceType"):
        focus: Any = value
    else:
        focus = ResourceNode.create_node(value, base_path)  # type: ignore[no-untyped-call]
    container = root_resource or root
    env = {"resource": root, "rootResource": container}
    # Invariants on one element often share sub-expressions (same text, same compiled
    # function): evaluate each once per focus.
    memo: dict[int, list[Any]] = {}

    def run(fn: Callable[..., list[Any]]) -> list[Any]:
        key = id(fn)
        if key not in memo:
            token = _CONTAINER.set(container)
            try:
                memo[key] = fn(focus, env)
            finally:
                _CONTAINER.reset(token)
        return memo[key]

    return run
