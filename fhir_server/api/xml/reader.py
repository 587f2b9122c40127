"""FHIR XML in: a request body becomes the FHIR JSON the interactions already take.

https://hl7.org/fhir/R4/xml.html. The document is parsed by lxml with
everything dangerous switched off (no DTD loading, no entity resolution, no
network, libxml2's default depth and size limits), and any document that
declares a DTD is refused: FHIR XML never needs one, and entity declarations
are how XXE and "billion laughs" attacks arrive. The tree is then walked
against the R4 definitions (``schema``): unknown elements and attributes,
elements out of their defined order, a second value for a single element,
values that are not of their type and text where FHIR has none are refused
with the path of the offending element, as unknown JSON properties are.

The result is JSON text with every number exactly as written (``1.50`` stays
``1.50``), so an XML body goes through the same JSON parsing and validation as
a JSON one.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
from lxml import etree

from fhir_server.api.xml.schema import FHIR_NS, Field, TypeInfo, schema
from fhir_server.errors import InvalidRequest, InvalidResource

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# The lexical forms of https://hl7.org/fhir/R4/datatypes.html (integer, decimal).
INTEGER_RE = re.compile(r"-?(0|[1-9][0-9]*)")
DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
WHITESPACE = " \t\r\n"
NONE: frozenset[str] = frozenset()
PRIMITIVE_ATTRIBUTES = frozenset({"value", "id"})


def _parser() -> etree.XMLParser:
    """A parser that never reads a file, a URL or an entity (one per call: not thread-safe)."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_document(raw: bytes) -> etree._Element:
    """Well-formed XML without a DTD, or a 400."""
    try:
        root = etree.fromstring(raw, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidRequest(
            f"The request body is not well-formed XML: {exc.msg}", msg_id="MRTC-XML-001"
        ) from None
    except ValueError as exc:  # e.g. a unicode string with an encoding declaration
        raise InvalidRequest(
            f"The request body is not well-formed XML: {exc}", msg_id="MRTC-XML-001"
        ) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise InvalidRequest(
            "XML with a DOCTYPE is refused: FHIR XML has no DTD, and entity declarations "
            "are a security risk (XXE, entity expansion)",
            msg_id="MRTC-XML-002",
        )
    return root


def xml_to_json(raw: bytes) -> bytes:
    """A FHIR XML resource as FHIR JSON text (numbers as written)."""
    root = parse_document(raw)
    resource = _Reader().resource(root, "")
    try:
        return orjson.dumps(resource)
    except orjson.JSONEncodeError:  # deeper than the JSON a JSON body may have
        raise InvalidResource(
            "The resource is nested too deeply to be represented as FHIR JSON",
            msg_id="MRTC-XML-012",
        ) from None


def parse_div(text: str) -> etree._Element:
    """A narrative ``div`` held in JSON, parsed with the same safe parser."""
    root = etree.fromstring(text.encode("utf-8"), parser=_parser())
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise ValueError("a DOCTYPE in a narrative")
    return root


def _split(tag: Any) -> tuple[str, str]:
    if not isinstance(tag, str):  # an entity reference left unresolved
        return "", str(tag)
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _invalid(message: str, path: str, msg_id: str) -> InvalidResource:
    return InvalidResource(f"{path}: {message}", expression=(path,), msg_id=msg_id)


class _Reader:
    """One walk over one document; raises at the first problem, naming its path."""

    def resource(self, element: etree._Element, container: str) -> dict[str, Any]:
        ns, local = _split(element.tag)
        info = schema().resource(local) if ns == FHIR_NS else None
        path = container or local
        if info is None:
            raise _invalid(
                f"<{local}> in namespace '{ns}' is not a FHIR resource "
                f"(resources are elements of the {FHIR_NS} namespace)",
                path,
                "MRTC-XML-003",
            )
        self._attributes(element, NONE, path)
        out: dict[str, Any] = {"resourceType": local}
        self._children(element, info, out, path)
        return out

    def _attributes(
        self, element: etree._Element, allowed: frozenset[str], path: str
    ) -> dict[str, str]:
        items = element.items()
        if not items:
            return {}
        found: dict[str, str] = {}
        for name, value in items:
            ns, local = _split(name)
            if ns == XSI_NS:  # xsi:schemaLocation and the like carry no content
                continue
            if ns or local not in allowed:
                raise _invalid(f"unexpected attribute '{local}'", path, "MRTC-XML-008")
            if not value.strip(WHITESPACE):
                raise _invalid(
                    f"attribute '{local}' is empty (FHIR attributes are absent or non-empty)",
                    path,
                    "MRTC-XML-007",
                )
            found[local] = value
        return found

    def _children(
        self, element: etree._Element, info: TypeInfo, out: dict[str, Any], path: str
    ) -> None:
        if element.text and element.text.strip(WHITESPACE):
            raise _invalid("text content is not allowed here", path, "MRTC-XML-009")
        last: Field | None = None
        counts: dict[str, int] = {}
        arrays: list[str] = []
        for child in element:
            tail = child.tail
            if tail and tail.strip(WHITESPACE):
                raise _invalid("text content is not allowed here", path, "MRTC-XML-009")
            f = info.by_tag.get(child.tag)
            if f is None:
                ns, local = _split(child.tag)
                where = "" if ns == FHIR_NS else f" in namespace '{ns}'"
                raise _invalid(
                    f"unknown element <{local}>{where}", f"{path}.{local}", "MRTC-XML-004"
                )
            local = f.name
            child_path = f"{path}.{local}"
            if last is not None:
                if f.order < last.order:
                    raise _invalid(
                        f"element <{local}> is out of order: FHIR XML follows the "
                        f"definition's order, where it comes before <{last.name}>",
                        child_path,
                        "MRTC-XML-005",
                    )
                if f.order == last.order and (not f.repeats or f is not last):
                    raise _invalid(
                        f"<{local}> cannot repeat: {info.name.split('.')[-1]}.{f.slot} "
                        "holds one value",
                        child_path,
                        "MRTC-XML-006",
                    )
            last = f
            index = counts.get(local, 0)
            counts[local] = index + 1
            item_path = f"{child_path}[{index}]" if f.repeats else child_path
            value, extra = self._value(child, f, item_path)
            if f.repeats:
                if index == 0:
                    out[local] = []
                    out["_" + local] = []
                    arrays.append(local)
                out[local].append(value)
                out["_" + local].append(extra)
            else:
                if value is not None:
                    out[local] = value
                if extra is not None:
                    out["_" + local] = extra
        for name in arrays:  # JSON: drop an all-null side of a primitive array pair
            if all(v is None for v in out[name]):
                del out[name]
            if all(v is None for v in out["_" + name]):
                del out["_" + name]

    def _value(self, element: etree._Element, f: Field, path: str) -> tuple[Any, Any]:
        """(JSON value, JSON ``_name`` object or None) of one element."""
        info = f.type
        if info.kind == "primitive":
            return self._primitive(element, info, path)
        if info.kind == "xhtml":
            return self._xhtml(element), None
        if info.kind == "container":
            self._attributes(element, NONE, path)
            if element.text and element.text.strip(WHITESPACE):
                raise _invalid("text content is not allowed here", path, "MRTC-XML-009")
            inner = list(element)
            if len(inner) != 1:
                raise _invalid(
                    f"<{f.name}> must hold exactly one resource, not {len(inner)}",
                    path,
                    "MRTC-XML-011",
                )
            if inner[0].tail and inner[0].tail.strip(WHITESPACE):
                raise _invalid("text content is not allowed here", path, "MRTC-XML-009")
            return self.resource(inner[0], path), None
        out: dict[str, Any] = dict(self._attributes(element, info.attributes, path))
        self._children(element, info, out, path)
        if not out:
            raise _invalid(
                "element has no content (FHIR: a value or children)", path, "MRTC-XML-010"
            )
        return out, None

    def _primitive(self, element: etree._Element, info: TypeInfo, path: str) -> tuple[Any, Any]:
        attributes = self._attributes(element, PRIMITIVE_ATTRIBUTES, path)
        if element.text and element.text.strip(WHITESPACE):
            raise _invalid(
                "text content is not allowed: a FHIR primitive's value is its 'value' attribute",
                path,
                "MRTC-XML-009",
            )
        extra: dict[str, Any] = {}
        if "id" in attributes:
            extra["id"] = attributes["id"]
        extension = schema().type("Element").fields["extension"]
        for index, child in enumerate(element):
            ns, local = _split(child.tag)
            if ns != FHIR_NS or local != "extension":
                raise _invalid(
                    f"unknown element <{local}>: a primitive holds only extensions",
                    f"{path}.{local}",
                    "MRTC-XML-004",
                )
            if child.tail and child.tail.strip(WHITESPACE):
                raise _invalid("text content is not allowed here", path, "MRTC-XML-009")
            ext, _ = self._value(child, extension, f"{path}.extension[{index}]")
            extra.setdefault("extension", []).append(ext)
        raw = attributes.get("value")
        if raw is None and not extra:
            raise _invalid("element has neither a value nor extensions", path, "MRTC-XML-010")
        return (None if raw is None else _typed(raw, info, path)), (extra or None)

    def _xhtml(self, element: etree._Element) -> str:
        """The narrative ``div`` (its tag was matched in the XHTML namespace) as markup."""
        div = copy.deepcopy(element)
        div.tail = None
        etree.cleanup_namespaces(div)  # drop the FHIR and xsi declarations it inherited
        return str(etree.tostring(div, encoding="unicode", with_tail=False))


def _typed(raw: str, info: TypeInfo, path: str) -> Any:
    """A ``value`` attribute as its JSON value; numbers keep their exact text."""
    kind = info.json_kind
    if kind == "string":
        return raw
    if kind == "boolean":
        if raw in ("true", "false"):
            return raw == "true"
    elif kind == "integer":
        if INTEGER_RE.fullmatch(raw):
            return int(raw)
    elif DECIMAL_RE.fullmatch(raw):
        return orjson.Fragment(raw)
    raise _invalid(f"'{raw}' is not a valid {info.name}", path, "MRTC-XML-007")
