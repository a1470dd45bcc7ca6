import pytest

from conformance.scenarios.templating import TemplateError, references, render

VARS = {"usager": {"traits": {"birth_name": "LEFÈVRE"}, "ids": ["a", "b"]}, "n": 3}


def test_whole_reference_keeps_type():
    assert render("${usager.traits}", VARS) == {"birth_name": "LEFÈVRE"}
    assert render("${n}", VARS) == 3


def test_embedded_reference_is_text():
    assert render({"path": "Patient/${usager.ids.1}?n=${n}"}, VARS) == {"path": "Patient/b?n=3"}


def test_missing_key_is_named():
    with pytest.raises(TemplateError, match="pas de clé « nope »"):
        render("${usager.nope}", VARS)


def test_references_are_listed_with_their_path():
    found = list(references({"a": ["x ${one}", {"b": "${two.three}"}]}))
    assert found == [(("a", 0), "one"), (("a", 1, "b"), "two.three")]
