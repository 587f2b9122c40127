"""The FHIRPath functions invariants need, and evaluation of an element in context.

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

from fhir_server.fhirpath import Compiler, Evaluator, element_node, node_data
from fhir_server.terminology import TerminologyService

log = logging.getLogger(__name__)


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
        data = node_data(item)
        ref = data.get("reference") if isinstance(data, dict) else data
        if not isinstance(ref, str) or not ref.startswith("#"):
            continue
        for candidate in contained if isinstance(contained, list) else []:
            if isinstance(candidate, dict) and candidate.get("id") == ref[1:]:
                out.append(element_node(candidate, candidate.get("resourceType")))
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


def user_functions(terminology: TerminologyService | None) -> dict[str, Any]:
    """The FHIR-specific FHIRPath functions, in fhirpathpy's invocation-table form."""
    return {
        "hasValue": {"fn": _has_value, "arity": {0: []}},
        "htmlChecks": {"fn": _always_true, "arity": {0: []}},
        "conformsTo": {"fn": _always_true, "arity": {1: ["String"]}},
        "resolve": {"fn": _resolve, "arity": {0: []}},
        "memberOf": {"fn": _member_of(terminology), "arity": {1: ["String"]}},
    }


def invariant_compiler(terminology: TerminologyService | None = None) -> Compiler:
    """The compiler invariants use: the FHIR functions above, ``memberOf`` on ``terminology``."""
    return Compiler(user_functions(terminology))


def compile_or_none(compiler: Compiler) -> Callable[[str], Evaluator | None]:
    """``compiler.compile`` that answers ``None`` (logged) for what the engine cannot parse.

    An invariant the engine cannot compile is reported as information by the
    checks, never as a failure of the resource.
    """

    def compile_(expression: str) -> Evaluator | None:
        try:
            return compiler.compile(expression)
        except ValueError as exc:
            log.warning("cannot compile FHIRPath %r: %s", expression, exc)
            return None

    return compile_


def runner(
    value: Any, base_path: str, root: dict[str, Any], root_resource: dict[str, Any] | None = None
) -> Callable[[Any], list[Any]]:
    """Evaluate compiled expressions on ``value``; ``root`` is %resource."""
    if value is root and base_path == root.get("resourceType"):
        focus: Any = value
    else:
        focus = element_node(value, base_path)
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
