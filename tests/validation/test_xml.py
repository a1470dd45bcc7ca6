"""Why a document is not well-formed XML, or not valid against an XSD, in French and located."""

import pytest
from lxml import etree

from conformance.validation.xml import UnsafeXml, parse_xml, schema_error_text


@pytest.mark.parametrize(("document", "said"), [
    (b"", "ligne 1, colonne 1 : document vide ou sans élément (« < » attendu)"),
    (b"<a>\n<b></a>", "ligne 2, colonne 8 : la balise fermante </a> ne ferme pas l'élément <b> ouvert ligne 2"),
    (b"<a>", "ligne 1, colonne 4 : le document s'arrête avant la fin de l'élément <a> ouvert ligne 1"),
    (b"<a x='1' x='2'/>", "l'attribut x figure deux fois sur le même élément"),
    (b"<a>&foo;</a>", "l'entité &foo; n'est pas déclarée"),
    (b"<a>AT&T</a>", "« ; » manquant après une référence d'entité"),
    (b"<a/><b/>", "contenu en trop après l'élément racine"),
    (b"<a>\xff</a>", "octets invalides pour l'encodage du document"),
    (b"<hl7:a/>", "le préfixe d'espace de noms « hl7 » de l'élément a n'est pas déclaré"),
    (b"<a>\x01</a>", "caractère interdit en XML (code 1)"),
])
def test_syntax_errors_are_french_sentences(document, said):
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(document)
    message = str(caught.value)
    assert message.startswith("XML mal formé ligne ") and said in message
    assert "détail technique" not in message  # nothing left untranslated for these


def test_an_unknown_syntax_error_keeps_the_library_words_as_a_detail(monkeypatch):
    import conformance.validation.xml as xml

    monkeypatch.setattr(xml, "_SYNTAX", {})
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<a></b>")
    assert str(caught.value) == ("XML mal formé ligne 1, colonne 8 (détail technique : Opening and ending tag "
                                 "mismatch: a line 1 and b)")


SCHEMA = etree.XMLSchema(etree.fromstring(b"""\
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3"
           xmlns="urn:hl7-org:v3" elementFormDefault="qualified">
  <xs:element name="doc"><xs:complexType><xs:sequence>
    <xs:element name="n" type="xs:int"/>
    <xs:element name="c" minOccurs="0"><xs:simpleType><xs:restriction base="xs:string">
      <xs:enumeration value="FR"/></xs:restriction></xs:simpleType></xs:element>
  </xs:sequence><xs:attribute name="r" use="required"/></xs:complexType></xs:element>
</xs:schema>"""))


@pytest.mark.parametrize(("document", "said"), [
    (b'<doc xmlns="urn:hl7-org:v3" r="1"><n>x</n></doc>', "élément n : la valeur « x » n'est pas du type xs:int"),
    (b'<doc xmlns="urn:hl7-org:v3"><n>1</n></doc>', "élément doc : l'attribut obligatoire r est absent"),
    (b'<doc xmlns="urn:hl7-org:v3" r="1" z="2"><n>1</n></doc>',
     "élément doc, attribut z : l'attribut z n'est pas permis ici"),
    (b'<doc xmlns="urn:hl7-org:v3" r="1"/>', "élément doc : il manque un élément enfant obligatoire ; attendu : n"),
    (b'<doc xmlns="urn:hl7-org:v3" r="1"><n>1</n><e/></doc>',
     "élément e : élément inattendu à cet endroit ; attendu : c"),
    (b'<doc xmlns="urn:hl7-org:v3" r="1"><n>1</n><c>BE</c></doc>', "élément c : la valeur « BE » n'est pas l'une de "
                                                                   "'FR'"),
])
def test_schema_errors_are_french_sentences(document, said):
    assert not SCHEMA.validate(etree.fromstring(document))
    assert [schema_error_text(e.message) for e in SCHEMA.error_log] == [said]
