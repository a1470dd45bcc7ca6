"""The one safe XML parser of the project: no entities, no DTD, no network, bounded size and depth."""

from __future__ import annotations

from lxml import etree

MAX_BYTES = 20 * 1024 * 1024
MAX_DEPTH = 256


class UnsafeXml(ValueError):
    """The document is malformed, too large, too deep, or relies on entities or a DTD."""


def parse_xml(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> etree._Element:
    """Parse ``data`` without resolving anything outside it; raise UnsafeXml with a French reason."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"document de {len(data)} octets, au-delà de la limite de {max_bytes}")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"XML mal formé : {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.system_url:
        raise UnsafeXml("le document déclare une DTD (entités externes ou internes interdites)")
    for element in root.iter():
        if isinstance(element, etree._Entity):
            raise UnsafeXml(f"le document utilise l'entité &{element.name};")
    _check_depth(root, max_depth)
    return root


def _check_depth(root: etree._Element, max_depth: int) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeXml(f"imbrication de plus de {max_depth} niveaux")
        stack.extend((child, depth + 1) for child in element)
