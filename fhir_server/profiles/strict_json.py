"""Strict FHIR JSON: the R4 JSON rules a resource must follow before it is stored.

https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/datatypes.html.
A walk over the parsed JSON, driven by the element tables of
``profiles/elements.py`` (built from the core StructureDefinitions), that
checks what a lax model parse lets through: JSON booleans for ``boolean``,
JSON numbers for ``integer``/``positiveInt``/``unsignedInt`` (integral, in
range, never a boolean) and ``decimal``, strings matching the primitive's R4
regex for everything else, no ``null`` except where it aligns a primitive
array with its ``_name`` array, no empty arrays, objects or strings, an
element with a value or children (ele-1), an extension with a value or
extensions but not both (ext-1), no control characters other than tab, CR
and LF, the cardinality and choice rules of every element, and no element
the definition does not name. ``_name`` primitive extension siblings are
checked like any element.

Why not pydantic strict mode on the ``fhir.resources`` models: their custom
primitive types ignore ``strict=True`` (``"active": "yes"``, ``"name": []``
and ``"given": ["Ann", null]`` still validate), and this walk is several
times cheaper than the lax model parse it replaces (``bench/validation_bench.py``
measures both; see docs/decisions/0013-strict-fhir-json.md).

Every problem is an ``Issue`` located by a FHIRPath-style expression
(``Patient.name[0].given[1]``); the walk goes on after a problem so a client
learns everything at once, up to ``MAX_ISSUES``.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from fhir_server.errors import Issue
from fhir_server.profiles.elements import (
    Primitive,
    Prop,
    Shape,
    is_resource_type,
    shape,
)
from fhir_server.profiles.json_text import MSG_TOO_DEEP  # nested deeper than FHIR_MAX_DEPTH

MSG_STRUCTURE = "MRTC-REST-012"  # the resource breaks the R4 structure (one issue per problem)
# Enough to describe any real mistake; an OperationOutcome is not the place to echo a
# megabyte of garbage back.
MAX_ISSUES = 100
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
INT64 = (-(2**63), 2**63 - 1)  # what the database stores exactly as a number
DATED = frozenset({"date", "dateTime", "instant"})
EXTENSION = "Extension"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class StrictJson:
    """One walk over one resource (or Bundle envelope); collects ``issues``."""

    def __init__(self, max_depth: int | None = None, *, descend_resources: bool = True) -> None:
        self.max_depth = max_depth
        self.descend_resources = descend_resources
        self.issues: list[Issue] = []

    # -- reporting ------------------------------------------------------------

    def problem(self, path: str, code: str, text: str, msg_id: str = MSG_STRUCTURE) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue("error", code, f"{path}: {text}", (path,), msg_id))

    # -- resources and objects ------------------------------------------------

    def resource(self, obj: dict[str, Any], path: str, depth: int = 1) -> None:
        """A resource: its ``resourceType`` names a concrete R4 type, then its elements."""
        type_ = obj.get("resourceType")
        if not isinstance(type_, str) or not is_resource_type(type_):
            self.problem(
                f"{path}.resourceType",
                "structure",
                f"'{type_}' is not an R4 resource type" if type_ else "resourceType is missing",
            )
            return
        found = shape(type_)
        assert found is not None
        self.element(obj, found, path, depth, has_value=False)

    def element(
        self, obj: dict[str, Any], of: Shape, path: str, depth: int, *, has_value: bool
    ) -> None:
        """One JSON object of shape ``of``; ``has_value``: the primitive value beside a ``_x``."""
        if self.max_depth is not None and depth > self.max_depth:
            self.problem(
                path,
                "too-long",
                f"nested deeper than {self.max_depth} levels (FHIR_MAX_DEPTH)",
                MSG_TOO_DEEP,
            )
            return
        props = of.props
        if not of.is_resource and not has_value and len(obj) <= ("id" in obj):
            self.problem(
                path,
                "structure",
                "an element must have a value or children (ele-1)"
                + ("; empty objects are not allowed" if not obj else ""),
            )
            return
        issues = self.issues
        chosen: dict[str, str] | None = None  # choice group -> the first of its names seen
        for key, value in obj.items():
            if len(issues) >= MAX_ISSUES:
                return
            if key[:1] == "_":
                prop = props.get(key[1:])
                if prop is None or prop.primitive is None:
                    self.problem(f"{path}.{key}", "structure", "unknown element")
                    continue
                self.primitive_extension(obj, prop, value, path, depth)
            else:
                prop = props.get(key)
                if prop is None:
                    if not (key == "resourceType" and of.is_resource):
                        self.problem(
                            f"{path}.{key}", "structure", f"unknown element (not in R4 {of.path})"
                        )
                    continue
                prim = prop.primitive
                if prim is not None and not prop.array and value is not None:
                    found = primitive_problem(prim, value)  # no path unless it is needed
                    if found is not None:
                        if isinstance(value, list):
                            found = ("structure", "must be a single value, not an array")
                        self.problem(f"{path}.{key}", *found)
                elif value is None:
                    self.problem(
                        f"{path}.{key}", "structure", "null is not allowed; omit the element"
                    )
                elif prop.array:
                    self.array(obj, prop, value, f"{path}.{key}", depth)
                elif isinstance(value, list):
                    self.problem(
                        f"{path}.{key}", "structure", "must be a single value, not an array"
                    )
                else:
                    self.value(prop, value, f"{path}.{key}", depth + 1)
            group = prop.choice
            if group is not None:
                if chosen is None:
                    chosen = {}
                first = chosen.setdefault(group, prop.name)
                if first != prop.name:
                    self.problem(
                        f"{path}.{prop.name}",
                        "structure",
                        f"only one of {group}[x] may be present ({first}, {prop.name})",
                    )
        for element_path, names in of.required:
            if not any(n in obj for n in names):
                self.problem(
                    f"{path}.{element_path.rsplit('.', 1)[1]}",
                    "required",
                    f"{element_path} is required",
                )
        if of.path == EXTENSION:
            has_ext = "extension" in obj
            has_val = any(k.startswith(("value", "_value")) for k in obj)
            if has_ext == has_val:
                self.problem(
                    path, "invariant", "an extension has either extensions or a value[x] (ext-1)"
                )

    def array(self, obj: dict[str, Any], prop: Prop, value: Any, where: str, depth: int) -> None:
        if not isinstance(value, list):
            self.problem(where, "structure", f"must be an array, not {_json_kind(value)}")
            return
        if not value:
            self.problem(where, "structure", "empty arrays are not allowed; omit the element")
            return
        if prop.max is not None and len(value) > prop.max:
            self.problem(where, "structure", f"at most {prop.max} item(s) allowed")
        ext = obj.get(f"_{prop.name}") if prop.primitive is not None else None
        for i, item in enumerate(value):
            if item is None:
                paired = isinstance(ext, list) and i < len(ext) and ext[i] is not None
                if not paired:
                    self.problem(
                        f"{where}[{i}]",
                        "structure",
                        "null is only allowed where _" + prop.name + " holds an extension",
                    )
                continue
            if prop.primitive is not None:
                found = primitive_problem(prop.primitive, item)
                if found is not None:
                    self.problem(f"{where}[{i}]", *found)
            else:
                self.value(prop, item, f"{where}[{i}]", depth + 2)

    def value(self, prop: Prop, value: Any, where: str, depth: int) -> None:
        """A complex value (primitives are checked in place by ``primitive_problem``)."""
        if not isinstance(value, dict):
            self.problem(where, "structure", f"must be an object, not {_json_kind(value)}")
            return
        if prop.is_resource:
            if self.descend_resources:
                self.resource(value, where, depth)
            return
        of = prop.inline or shape(prop.type_code)
        if of is None:  # a type the core definitions do not describe: nothing to check
            return
        self.element(value, of, where, depth, has_value=False)

    def primitive_extension(
        self, obj: dict[str, Any], prop: Prop, ext: Any, path: str, depth: int
    ) -> None:
        """``_name``: the id and extensions of a primitive, aligned with its values."""
        where = f"{path}.{prop.name}"
        element = shape("Element")
        assert element is not None
        values = obj.get(prop.name)
        if not prop.array:
            if not isinstance(ext, dict):
                self.problem(where, "structure", f"_{prop.name} must be an object")
                return
            self.element(ext, element, where, depth + 1, has_value=values is not None)
            return
        if not isinstance(ext, list) or not ext:
            self.problem(where, "structure", f"_{prop.name} must be a non-empty array")
            return
        if isinstance(values, list) and len(values) != len(ext):
            self.problem(
                where,
                "structure",
                f"{prop.name} and _{prop.name} must have the same number of items",
            )
            return
        for i, item in enumerate(ext):
            has_value = isinstance(values, list) and values[i] is not None
            if item is None:
                if not has_value:
                    self.problem(f"{where}[{i}]", "structure", "neither a value nor an extension")
                continue
            if not isinstance(item, dict):
                self.problem(f"{where}[{i}]", "structure", f"_{prop.name} items must be objects")
                continue
            self.element(item, element, f"{where}[{i}]", depth + 2, has_value=has_value)


def primitive_problem(prim: Primitive, value: Any) -> tuple[str, str] | None:
    """(issue code, text) if ``value`` is not a valid JSON value of ``prim``; else None.

    Free of any location, so that a valid value (nearly all of them) costs no path.
    """
    kind = prim.json
    if kind == "string":
        return _string_problem(prim, value)
    if kind == "boolean":
        if value is True or value is False:
            return None
        return "value", f"must be a JSON boolean ({prim.code}), not {_json_kind(value)}"
    if kind == "integer":
        if type(value) is not int:
            shown = f" ({value!r})" if isinstance(value, (str, float)) else ""
            return (
                "value",
                f"must be a JSON number without a fraction ({prim.code}), "
                f"not {_json_kind(value)}{shown}",
            )
        if not prim.low <= value <= prim.high:
            return "value", f"{value} is outside the {prim.code} range {prim.low}..{prim.high}"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "value", f"must be a JSON number (decimal), not {_json_kind(value)}"
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            return "value", "this decimal is too large to be stored exactly"
    elif not math.isfinite(value):
        return "value", "a decimal must be finite"
    return None


def _string_problem(prim: Primitive, value: Any) -> tuple[str, str] | None:
    code = prim.code
    if type(value) is not str:
        return "value", f"must be a JSON string ({code}), not {_json_kind(value)}"
    if not value:
        return "value", "empty strings are not allowed; omit the element"
    if prim.max_length is not None and len(value) > prim.max_length:
        return "too-long", f"longer than {prim.max_length} characters"
    if CONTROL.search(value):
        return (
            "value",
            "control characters are not allowed (only tab, carriage return and line feed)",
        )
    if prim.pattern is not None and prim.pattern.fullmatch(value) is None:
        shown = value if len(value) <= 64 else value[:61] + "..."
        return "value", f"{shown!r} is not a valid {code}"
    if code in DATED and len(value) >= 10 and not _real_day(value):
        return "value", f"{value[:10]!r} is not a calendar date"
    return None


def _real_day(text: str) -> bool:
    """The regexes accept 2015-02-30; a date must also exist."""
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def check_resource(body: dict[str, Any], type_: str, max_depth: int | None) -> list[Issue]:
    """Every strict-JSON problem of a ``type_`` resource (its resourceType already checked)."""
    walk = StrictJson(max_depth)
    walk.resource(body, type_)
    return walk.issues


def check_envelope(
    obj: dict[str, Any], of: Shape, path: str, max_depth: int | None = None
) -> list[Issue]:
    """A resource's own elements without descending into the resources it carries.

    For a batch or transaction Bundle: each ``entry.resource`` is checked by the
    interaction that stores it, so that a batch reports it as that entry's failure.
    """
    walk = StrictJson(max_depth, descend_resources=False)
    walk.element(obj, of, path, 1, has_value=False)
    return walk.issues


def check_bundle(bundle: dict[str, Any], max_depth: int | None = None) -> list[Issue]:
    """A batch or transaction Bundle's own elements, its entries aside."""
    of = shape("Bundle")
    assert of is not None
    # the entries are checked one by one; a non-array or empty "entry" is reported here
    own = {k: v for k, v in bundle.items() if k != "entry" or not (isinstance(v, list) and v)}
    return check_envelope(own, of, "Bundle", max_depth)


def check_bundle_entry(
    entry: dict[str, Any], index: int, max_depth: int | None = None
) -> list[Issue]:
    """One ``Bundle.entry`` (fullUrl, request, ...), its resource aside."""
    bundle = shape("Bundle")
    assert bundle is not None and bundle.props["entry"].inline is not None
    return check_envelope(entry, bundle.props["entry"].inline, f"Bundle.entry[{index}]", max_depth)
