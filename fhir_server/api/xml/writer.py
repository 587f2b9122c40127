"""FHIR XML out: the JSON an interaction returns, written as https://hl7.org/fhir/R4/xml.html.

Elements are written in the order of their definition (JSON objects have no
order, XML elements must), each primitive with its ``value`` attribute and,
from the JSON ``_name`` sibling, its ``id`` attribute and extensions; arrays of
primitives pair each value with the extension object at the same index (a
``null`` on either side means "none"). Resources inside resources go inside
their container element, ``Element.id`` and ``Extension.url`` are attributes,
and the narrative ``div`` is re-parsed and embedded as XHTML. Numbers are
written as the JSON output writes them, so both formats say the same thing.

Content that XML 1.0 cannot carry (control characters, a narrative that is
not well-formed XHTML, a property FHIR does not define) is not silently
dropped: the response becomes a 406 asking for JSON instead.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from itertools import zip_longest
from typing import Any

import orjson
from lxml import etree

from fhir_server.api.xml.reader import parse_div
from fhir_server.api.xml.schema import FHIR_NS, XHTML_NS, Field, TypeInfo, schema
from fhir_server.errors import NotAcceptable


class Unrepresentable(ValueError):
    """The JSON holds something FHIR XML cannot say."""


def json_to_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """A FHIR JSON resource (as parsed: dicts, lists, numbers) as FHIR XML bytes."""
    try:
        root = _resource(None, resource, "")
        if pretty:
            _indent(root)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    except (Unrepresentable, ValueError, TypeError) as exc:
        where = resource.get("resourceType", "resource") if isinstance(resource, dict) else ""
        raise NotAcceptable(
            f"This {where} cannot be represented in FHIR XML ({exc}); "
            "ask for application/fhir+json instead",
            msg_id="MRTC-XML-406",
        ) from None


def _indent(root: etree._Element) -> None:
    """Indent for ``_pretty=true``, leaving every narrative exactly as it was:
    whitespace inside XHTML is content."""
    divs = [(div, copy.deepcopy(div)) for div in root.iter(f"{{{XHTML_NS}}}div")]
    etree.indent(root, space="  ")
    for indented, original in divs:
        if indented.getparent() is not None and _is_narrative(indented):
            original.tail = indented.tail
            indented.getparent().replace(indented, original)


def _is_narrative(div: etree._Element) -> bool:
    parent = div.getparent()
    return parent is not None and parent.tag.startswith(f"{{{FHIR_NS}}}")


def _resource(parent: etree._Element | None, resource: Any, path: str) -> etree._Element:
    if not isinstance(resource, dict):
        raise Unrepresentable(f"{path or 'the body'} is not a resource")
    rtype = resource.get("resourceType")
    info = schema().resource(rtype) if isinstance(rtype, str) else None
    if info is None:
        raise Unrepresentable(f"{path or 'the body'} has no known resourceType")
    tag = f"{{{FHIR_NS}}}{rtype}"
    element = (
        etree.Element(tag, nsmap={None: FHIR_NS})
        if parent is None
        else etree.SubElement(parent, tag)
    )
    _members(element, info, resource, path or str(rtype))
    return element


def _members(element: etree._Element, info: TypeInfo, obj: Any, path: str) -> None:
    if not isinstance(obj, dict):
        raise Unrepresentable(f"{path} is not an object")
    present: dict[str, Field] = {}
    for key, value in obj.items():
        name = key[1:] if key.startswith("_") else key
        if name in info.attributes and key == name:
            element.set(name, _text(value))
            continue
        if key == "resourceType" and info.kind == "resource":
            continue
        f = info.fields.get(name)
        if f is None or (key != name and f.type.kind != "primitive"):
            raise Unrepresentable(f"{path}.{key} is not a FHIR element")
        present[name] = f
    for name, f in sorted(present.items(), key=lambda item: item[1].order):
        _field(element, f, obj.get(name), obj.get("_" + name), f"{path}.{name}")


def _field(parent: etree._Element, f: Field, value: Any, extra: Any, path: str) -> None:
    kind = f.type.kind
    if kind == "primitive":
        if f.repeats:
            values = value if isinstance(value, list) else [] if value is None else [value]
            extras = extra if isinstance(extra, list) else [] if extra is None else [extra]
            for v, x in zip_longest(values, extras):
                if v is not None or x is not None:
                    _primitive(parent, f, v, x, path)
        else:
            _primitive(parent, f, value, extra, path)
        return
    items = value if f.repeats and isinstance(value, list) else [value]
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]" if f.repeats else path
        if kind == "xhtml":
            parent.append(_div(item, item_path))
        elif kind == "container":
            _resource(etree.SubElement(parent, f.tag), item, item_path)
        else:
            _members(etree.SubElement(parent, f.tag), f.type, item, item_path)


def _primitive(parent: etree._Element, f: Field, value: Any, extra: Any, path: str) -> None:
    attrib: dict[str, str] = {}
    if extra is not None:
        if not isinstance(extra, dict):
            raise Unrepresentable(f"{path}: _{f.name} is not an object")
        for key in extra:
            if key not in ("id", "extension"):
                raise Unrepresentable(f"{path}: _{f.name}.{key} is not a FHIR element")
        if "id" in extra:
            attrib["id"] = _text(extra["id"])
    if value is not None:
        attrib["value"] = value if type(value) is str else _text(value)
    element = etree.SubElement(parent, f.tag, attrib)
    if extra is not None and "extension" in extra:
        extension = schema().type("Element").fields["extension"]
        _field(element, extension, extra["extension"], None, f"{path}.extension")


def _div(value: Any, path: str) -> etree._Element:
    if not isinstance(value, str):
        raise Unrepresentable(f"{path} is not XHTML text")
    try:
        div = parse_div(value)
    except (etree.XMLSyntaxError, ValueError):
        raise Unrepresentable(f"{path} is not well-formed XHTML") from None
    if div.tag != f"{{{XHTML_NS}}}div":
        raise Unrepresentable(f"{path} is not an XHTML div")
    return div


def _text(value: Any) -> str:
    """A JSON scalar as an attribute value; numbers as the JSON writer writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return orjson.dumps(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    raise Unrepresentable(f"a {type(value).__name__} where a value belongs")
