"""The one safe XML parser: hostile documents are refused with a reason, never resolved, never read from disk."""

import pytest

from conformance.validation.xml import MAX_DEPTH, UnsafeXml, declared_encoding, parse_xml


def test_external_entity_is_refused_and_the_file_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("NE-PAS-LIRE", encoding="utf-8")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
           "<ClinicalDocument>&x;</ClinicalDocument>").encode()
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(xxe)
    assert caught.value.reason == "dtd"
    assert "NE-PAS-LIRE" not in str(caught.value)


def test_external_parameter_entity_is_refused(tmp_path):
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "NE-PAS-LIRE">', encoding="utf-8")
    document = (f'<!DOCTYPE d [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]><d>&leak;</d>').encode()
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(document)
    assert "NE-PAS-LIRE" not in str(caught.value)


def test_billion_laughs_is_refused_quickly():
    levels = ['<!ENTITY a0 "lol">'] + [f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = f'<?xml version="1.0"?><!DOCTYPE d [{"".join(levels)}]><d>&a9;</d>'.encode()
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(bomb)
    assert caught.value.reason in {"dtd", "entite", "syntaxe"}


def test_quadratic_blowup_is_refused():
    blob = "x" * 50_000
    document = f'<!DOCTYPE d [<!ENTITY b "{blob}">]><d>{"&b;" * 2000}</d>'.encode()
    with pytest.raises(UnsafeXml):
        parse_xml(document)


def test_size_and_depth_caps():
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<d>" + b" " * 200 + b"</d>", max_bytes=100)
    assert caught.value.reason == "taille"
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<a>" * 60 + b"</a>" * 60, max_depth=50)
    assert caught.value.reason == "profondeur"
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<a>" * 100_000 + b"</a>" * 100_000)
    assert caught.value.reason == "profondeur" and "256" in str(caught.value)


def test_the_default_depth_cap_is_libxml2s_own():
    """The default cap is not walked again in Python: libxml2 itself stops past MAX_DEPTH levels."""
    assert parse_xml(b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH) is not None
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1))
    assert caught.value.reason == "profondeur"


def test_malformed_is_a_syntax_reason():
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<a><b></a>")
    assert caught.value.reason == "syntaxe"
    assert str(caught.value).startswith("XML mal formé")


@pytest.mark.parametrize(("data", "encoding"), [
    (b'<?xml version="1.0" encoding="UTF-8"?><a/>', "utf-8"),
    (b"<?xml version='1.0' encoding='ISO-8859-1'?><a/>", "iso-8859-1"),
    (b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8" standalone="yes"?><a/>', "utf-8"),
    (b'<?xml version="1.0"?><a/>', None),
    (b"<a/>", None),
])
def test_declared_encoding(data, encoding):
    assert declared_encoding(data) == encoding
