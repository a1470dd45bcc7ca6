"""The one safe XML parser of the project: no entities, no DTD, no network, bounded size and depth."""

from __future__ import annotations

import re

from lxml import etree

MAX_BYTES = 20 * 1024 * 1024
#: libxml2's own nesting limit without XML_PARSE_HUGE (huge_tree=False below)
MAX_DEPTH = 256


_DECLARATION = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


class UnsafeXml(ValueError):
    """The document is malformed, too large, too deep, or relies on entities or a DTD."""

    def __init__(self, message: str, reason: str = "syntaxe") -> None:
        super().__init__(message)
        #: why, for a finding's rule: taille, syntaxe, dtd, entite or profondeur
        self.reason = reason


def declared_encoding(data: bytes) -> str | None:
    """The encoding named by the XML declaration, lower-cased, or None when it names none."""
    match = _DECLARATION.match(data[:200])
    return match.group(1).decode("ascii").lower() if match else None


def parse_xml(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> etree._Element:
    """Parse ``data`` without resolving anything outside it; raise UnsafeXml with a French reason."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"document de {len(data)} octets, au-delà de la limite de {max_bytes}", "taille")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # libxml2 stops at 256 levels on its own (huge_tree off): that is the depth cap, not a syntax error; it
        # also refuses to expand entities past an amplification factor, even unresolved: an entity bomb.
        text = str(exc).lower()
        if "amplification" in text:
            raise UnsafeXml(f"le document déclare des entités qui se démultiplient (bombe d'entités) : {exc}",
                            "entite") from None
        if "depth" in text:
            raise UnsafeXml(f"imbrication de plus de {MAX_DEPTH} niveaux : document refusé", "profondeur") from None
        raise UnsafeXml(f"XML mal formé : {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.system_url:
        raise UnsafeXml("le document déclare une DTD (entités externes ou internes interdites)", "dtd")
    for element in root.iter():
        if isinstance(element, etree._Entity):
            raise UnsafeXml(f"le document utilise l'entité &{element.name};", "entite")
    if max_depth < MAX_DEPTH:
        # Up to MAX_DEPTH libxml2 has already refused deeper documents itself; walking every element again cost a
        # third of the built-in CDA rules' time.
        _check_depth(root, max_depth)
    return root


def _check_depth(root: etree._Element, max_depth: int) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeXml(f"imbrication de plus de {max_depth} niveaux", "profondeur")
        stack.extend((child, depth + 1) for child in element)
