"""The one safe XML parser of the project: no entities, no DTD, no network, bounded size and depth."""

from __future__ import annotations

import re

from lxml import etree

from conformance.core.library_errors import clip, technical

MAX_BYTES = 20 * 1024 * 1024
#: libxml2's own nesting limit without XML_PARSE_HUGE (huge_tree=False below)
MAX_DEPTH = 256


_DECLARATION = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


#: libxml2's error names by code (``ErrorTypes`` holds them as attributes)
_ERROR_NAMES = {code: name for name, code in vars(etree.ErrorTypes).items() if name.isupper()}

# What libxml2 says, in French: a pattern for the names it quotes (None when it quotes none), and the sentence.
_SYNTAX: dict[str, tuple[str | None, str]] = {
    "ERR_DOCUMENT_EMPTY": (None, "document vide ou sans élément (« < » attendu)"),
    "ERR_DOCUMENT_END": (None, "contenu en trop après l'élément racine"),
    "ERR_TAG_NAME_MISMATCH": (r"mismatch: (\S+) line (\d+) and (\S+?),?$",
                              "la balise fermante </{2}> ne ferme pas l'élément <{0}> ouvert ligne {1}"),
    "ERR_TAG_NOT_FINISHED": (r"in tag (\S+) line (\d+)", "le document s'arrête avant la fin de l'élément <{0}> "
                                                        "ouvert ligne {1}"),
    "ERR_ATTRIBUTE_REDEFINED": (r"Attribute (\S+) redefined", "l'attribut {0} figure deux fois sur le même élément"),
    "ERR_ATTRIBUTE_WITHOUT_VALUE": (r"attribute (\S+)", "l'attribut {0} n'a pas de valeur"),
    "ERR_ATTRIBUTE_NOT_STARTED": (None, "valeur d'attribut sans guillemets"),
    "ERR_LT_IN_ATTRIBUTE": (None, "« < » non échappé dans une valeur d'attribut"),
    "ERR_UNDECLARED_ENTITY": (r"Entity '([^']+)'", "l'entité &{0}; n'est pas déclarée"),
    "WAR_UNDECLARED_ENTITY": (r"Entity '([^']+)'", "l'entité &{0}; n'est pas déclarée"),
    "ERR_NAME_REQUIRED": (None, "nom attendu (nom d'élément invalide, ou « & » non échappé en &amp;)"),
    "ERR_ENTITYREF_SEMICOL_MISSING": (None, "« ; » manquant après une référence d'entité"),
    "ERR_INVALID_CHAR": (r"(?:Char |value )(0x[0-9A-Fa-f]+|\d+)", "caractère interdit en XML (code {0})"),
    "ERR_INVALID_ENCODING": (None, "octets invalides pour l'encodage du document"),
    "ERR_UNSUPPORTED_ENCODING": (None, "encodage déclaré non pris en charge"),
    "NS_ERR_UNDEFINED_NAMESPACE": (r"prefix (\S+) on (\S+)",
                                   "le préfixe d'espace de noms « {0} » de l'élément {1} n'est pas déclaré"),
    "ERR_COMMENT_NOT_FINISHED": (None, "commentaire non terminé"),
    "ERR_CDATA_NOT_FINISHED": (None, "section CDATA non terminée"),
    "ERR_PI_NOT_FINISHED": (None, "instruction de traitement non terminée"),
    "ERR_GT_REQUIRED": (None, "« > » attendu"),
    "ERR_LTSLASH_REQUIRED": (None, "balise fermante « </ » attendue"),
    "ERR_SPACE_REQUIRED": (None, "attributs mal séparés ou balise non fermée"),
    "ERR_STRING_NOT_CLOSED": (None, "valeur entre guillemets non terminée"),
    "ERR_LITERAL_NOT_FINISHED": (None, "valeur entre guillemets non terminée"),
    "ERR_UNKNOWN_VERSION": (r"'([^']*)'", "version XML « {0} » non prise en charge"),
    "ERR_RESERVED_XML_NAME": (None, "déclaration XML ailleurs qu'au tout début du document"),
}
_POSITION = re.compile(r",? line \d+, column \d+\s*$")


def syntax_error_text(exc: etree.XMLSyntaxError) -> str:
    """A libxml2 syntax error in French, located; its own words only where the sentence cannot say them."""
    line, column = exc.position
    message = _POSITION.sub("", " ".join(str(exc.msg or "").split()))
    pattern, sentence = _SYNTAX.get(_ERROR_NAMES.get(exc.code, ""), (None, ""))
    found = re.search(pattern, message) if pattern else None
    if found:
        reason = " : " + sentence.format(*(clip(group, 80) for group in found.groups()))
    elif sentence and pattern is None:
        reason = " : " + sentence
    else:  # an error this table does not know, or worded by another libxml2: its own words, as a detail
        reason = technical(message)
    return f"XML mal formé ligne {line}, colonne {column}{reason}"


_HL7 = "{urn:hl7-org:v3}"
_SCHEMA_SUBJECT = re.compile(r"^Element '([^']*)'(?:, attribute '([^']*)')?: ")
# What libxml2 says when a document breaks an XSD, in French (the texts are stable across libxml2 2.9 to 2.14).
_SCHEMA: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), sentence) for pattern, sentence in (
    (r"'(.*)' is not a valid value of the atomic type '(.*)'", "la valeur « {0} » n'est pas du type {1}"),
    (r"'(.*)' is not a valid value of the local (?:list|union) type", "la valeur « {0} » n'est pas du type attendu"),
    (r"The attribute '(.*)' is required but missing", "l'attribut obligatoire {0} est absent"),
    (r"The attribute '(.*)' is not allowed", "l'attribut {0} n'est pas permis ici"),
    (r"Missing child element\(s\)\. Expected is (?:one of )?\( (.*) \)",
     "il manque un élément enfant obligatoire ; attendu : {0}"),
    (r"This element is not expected\. Expected is (?:one of )?\( (.*) \)",
     "élément inattendu à cet endroit ; attendu : {0}"),
    (r"This element is not expected", "élément inattendu à cet endroit"),
    (r"The value '(.*)' is not accepted by the pattern '(.*)'", "la valeur « {0} » ne respecte pas le motif {1}"),
    (r"The value '(.*)' is not an element of the set \{(.*)\}", "la valeur « {0} » n'est pas l'une de {1}"),
    (r"\[facet '(\w+)'\] The value has a length of '(\d+)'", "longueur {1} hors de la contrainte {0}"),
    (r"No matching global declaration available for the validation root", "élément racine inconnu du schéma"),
    (r"Element content is not allowed, because the (?:content type|type definition) is (?:a )?simple",
     "cet élément ne peut contenir que du texte"),
    (r"Character content other than whitespace is not allowed", "cet élément ne peut pas contenir de texte"),
))


def _names(text: str) -> str:
    return text.replace(_HL7, "")


def schema_error_text(message: str) -> str:
    """An XSD validation error of libxml2 (``XMLSchema.error_log``) in French, naming the element."""
    line = " ".join(message.split())
    subject = _SCHEMA_SUBJECT.match(line)
    rest = line[subject.end():] if subject else line
    where = ""
    if subject:
        where = f"élément {_names(subject.group(1))}" + (f", attribut {subject.group(2)}" if subject.group(2) else "")
        where += " : "
    for pattern, sentence in _SCHEMA:
        found = pattern.search(rest)
        if found:
            return where + sentence.format(*(clip(_names(group), 160) for group in found.groups()))
    return f"{where}non conforme au schéma{technical(rest)}"


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
            raise UnsafeXml("le document déclare des entités qui se démultiplient (bombe d'entités) : document "
                            "refusé", "entite") from None
        if "depth" in text:
            raise UnsafeXml(f"imbrication de plus de {MAX_DEPTH} niveaux : document refusé", "profondeur") from None
        raise UnsafeXml(syntax_error_text(exc)) from None
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
