"""Answers as JSON or as GeoReport v2 XML, error lists included."""

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from hotline.contracts.text import xml_safe
from hotline.intake.open311.errors import Open311Error, error_list

# Element names of list items in XML; lists at the top are named by the caller.
_XML_ITEMS = {"attributes": "attribute", "values": "value"}


def _xml_append(parent: ET.Element, name: str, value) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _xml_append(element, key, item)
    elif isinstance(value, list):
        for item in value:
            _xml_append(element, _XML_ITEMS.get(name, "item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = xml_safe(str(value))  # a record stored before intake refused such characters


def to_xml(payload: list | Mapping, *, root: str, item: str | None = None) -> bytes:
    """GeoReport v2 XML: `<root><item>…</item></root>` for a list, `<root>…</root>` for a mapping."""
    top = ET.Element(root)
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            _xml_append(top, key, value)
    else:
        for value in payload:
            _xml_append(top, item or "item", value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode").encode()


def serialize(fmt: str, payload: list | Mapping, *, root: str, item: str | None = None) -> bytes:
    """The payload as JSON or as GeoReport v2 XML."""
    if fmt == "xml":
        return to_xml(payload, root=root, item=item)
    return json.dumps(payload, ensure_ascii=False).encode()


def error_body(fmt: str, error: Open311Error) -> bytes:
    """An error list in the asked format (`<errors><error><code/><description/>`)."""
    return serialize(fmt, error_list(error), root="errors", item="error")
