"""What libraries say when they refuse input, in French: the sentence first, their words as a detail at most."""

import io
import json
import zipfile
import zlib

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from conformance.core.library_errors import exception_detail, json_error, pydantic_error, technical, zip_error


@pytest.mark.parametrize(("text", "said"), [
    ("", "JSON mal formé ligne 1, colonne 1 : une valeur JSON est attendue"),
    ('{"a": 1,}', "JSON mal formé ligne 1, colonne 9 : un nom de propriété entre guillemets doubles est attendu"),
    ('{"a" 1}', "JSON mal formé ligne 1, colonne 6 : « : » attendu après le nom de propriété"),
    ("[1 2]", "JSON mal formé ligne 1, colonne 4 : « , » attendue entre deux éléments"),
    ('"abc', "JSON mal formé ligne 1, colonne 1 : chaîne de caractères non terminée"),
    ("1 2", "JSON mal formé ligne 1, colonne 3 : contenu en trop après la valeur JSON"),
])
def test_json_errors(text, said):
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    assert json_error(caught.value).startswith(said)


def test_an_unknown_json_error_keeps_its_words_as_a_detail():
    error = json.JSONDecodeError("Something new", "x", 0)
    assert json_error(error) == "JSON mal formé ligne 1, colonne 1 (détail technique : Something new)"


def _stored_zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("DOC0001.XML", data)
    return buffer.getvalue()


def test_zip_errors():
    with pytest.raises(zipfile.BadZipFile) as not_zip:
        zipfile.ZipFile(io.BytesIO(b"pas une archive"))
    assert zip_error(not_zip.value) == "ce n'est pas une archive zip (répertoire central introuvable)"
    archive = bytearray(_stored_zip(b"<ClinicalDocument/>"))
    archive[archive.index(b"<Clinical") + 1] ^= 0x20  # one bit of the entry's content changed
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as damaged, pytest.raises(zipfile.BadZipFile) as crc:
        damaged.read("DOC0001.XML")
    assert "Bad CRC-32" in str(crc.value)
    assert zip_error(crc.value) == "somme de contrôle CRC-32 fausse : le contenu de l'entrée est altéré"
    assert zip_error(zlib.error("Error -3 while decompressing data: invalid stored block lengths")).startswith(
        "données compressées (deflate) corrompues (détail technique : Error -3")
    assert zip_error(NotImplementedError("That compression method is not supported")).startswith(
        "méthode de compression non prise en charge")
    assert zip_error(OSError("disque plein")) == "archive zip illisible (détail technique : OSError: disque plein)"


@pytest.mark.parametrize(("body", "said"), [
    ({"birthDate": "1990-13-45"}, "la valeur ne respecte pas le format FHIR du type Date"),
    ({"gender": 5}, "une chaîne de caractères est attendue"),
    ({"name": "x"}, "un tableau JSON est attendu"),
    ({"id": "a b"}, "la valeur ne respecte pas le format du type FHIR (motif ^[A-Za-z0-9\\-.]+$)"),
    ({"multipleBirthInteger": "a"}, "un entier est attendu"),
    ({"deceasedBoolean": True, "deceasedDateTime": "2020"},
     "un seul des éléments ['deceasedBoolean', 'deceasedDateTime'] est permis (type au choix [x]), plusieurs sont "
     "présents"),
])
def test_pydantic_errors_of_the_fhir_models(body, said):
    with pytest.raises(ValidationError) as caught:
        get_fhir_model_class("Patient").model_validate({"resourceType": "Patient", **body})
    (error,) = caught.value.errors()
    assert pydantic_error(error) == said
    assert "Value error" not in pydantic_error(error)


def test_unknown_pydantic_errors_keep_the_library_words_as_a_detail():
    assert pydantic_error({"type": "value_error", "msg": "Value error, something new"}) == \
        "valeur refusée par le modèle FHIR R4 (détail technique : something new)"
    assert pydantic_error({"type": "new_kind", "msg": "Input is odd"}) == \
        "valeur non conforme au modèle FHIR R4 (détail technique : Input is odd)"


def test_technical_detail_is_one_clipped_line():
    assert technical(None) == "" and technical("") == ""
    assert technical("a\nb") == " (détail technique : a b)"
    assert len(technical("x" * 1000)) < 240
    assert exception_detail(ZeroDivisionError("boom")) == "ZeroDivisionError: boom"
    assert exception_detail(KeyError()) == "KeyError"
