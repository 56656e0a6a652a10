"""Parse XMP packets into a flat ``{"prefix:Name": value}`` dict (value: str, or list of str for arrays).

Only what the metadata analyzer needs: simple properties written as attributes or elements of
``rdf:Description``, and rdf:Bag/Seq/Alt arrays (for a language alternative the x-default entry comes
first). Structures are skipped. A packet that is not well-formed is cut to its ``</x:xmpmeta>`` or
``</rdf:RDF>`` end and tried again; if it still fails, a warning is recorded and nothing is returned.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.microsoft.com/photo/1.0/": "MicrosoftPhoto",
    "http://ns.microsoft.com/photo/1.0": "MicrosoftPhoto",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
}
_ARRAYS = {f"{{{RDF}}}Bag", f"{{{RDF}}}Seq", f"{{{RDF}}}Alt"}
_DESC = f"{{{RDF}}}Description"
_LI = f"{{{RDF}}}li"


def _name(qname: str) -> str | None:
    if not qname.startswith("{"):
        return None
    uri, _, local = qname[1:].partition("}")
    prefix = PREFIXES.get(uri)
    return f"{prefix}:{local}" if prefix else None


def _parse(packet: bytes) -> ET.Element:
    try:
        return ET.fromstring(packet)
    except ET.ParseError:
        for end in (b"</x:xmpmeta>", b"</rdf:RDF>"):
            cut = packet.rfind(end)
            if cut >= 0:
                start = packet.find(b"<x:xmpmeta" if end == b"</x:xmpmeta>" else b"<rdf:RDF")
                if start >= 0:
                    return ET.fromstring(packet[start:cut + len(end)])
        raise


def parse_xmp(packet: bytes, warnings: list[str]) -> dict[str, str | list[str]]:
    """Flatten one XMP packet; earlier values win when a property appears twice."""
    out: dict[str, str | list[str]] = {}
    packet = packet.strip(b"\x00 \r\n\t")
    if not packet:
        return out
    try:
        root = _parse(packet)
    except ET.ParseError as exc:
        warnings.append(f"XMP: not well-formed XML ({exc}); ignored")
        return out
    for desc in root.iter(_DESC):
        for qname, value in desc.attrib.items():
            name = _name(qname)
            if name and name not in out:
                out[name] = value
        for child in desc:
            name = _name(child.tag)
            if not name or name in out:
                continue
            array = next((c for c in child if c.tag in _ARRAYS), None)
            if array is not None:
                items = [li for li in array if li.tag == _LI]
                if array.tag.endswith("Alt"):
                    items.sort(key=lambda li: li.get(_XML_LANG) != "x-default")
                out[name] = [(li.text or "").strip() for li in items if li.text is not None]
            elif child.get(f"{{{RDF}}}parseType") == "Resource" or (len(child) and child[0].tag == _DESC):
                holder = child[0] if child.get(f"{{{RDF}}}parseType") != "Resource" else child
                for qn, val in holder.attrib.items():
                    sub = _name(qn)
                    if sub:
                        out.setdefault(f"{name}/{sub}", val)
                for field in holder:
                    sub = _name(field.tag)
                    if sub and len(field) == 0 and field.text is not None:
                        out.setdefault(f"{name}/{sub}", field.text)
            elif len(child) == 0:
                for qn, val in child.attrib.items():   # a structure written as attributes
                    sub = _name(qn)
                    if sub:
                        out.setdefault(f"{name}/{sub}", val)
                resource = child.get(f"{{{RDF}}}resource")
                if resource is not None:
                    out[name] = resource
                elif (child.text or "").strip() or not child.attrib:
                    out[name] = child.text or ""
    return out
