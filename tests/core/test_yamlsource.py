from conformance.core.yamlsource import parse_yaml


def test_positions_point_at_values():
    doc, errors = parse_yaml("id: X\nsteps:\n  - id: a\n    fhir: {read: Patient}\n", "f.yaml")
    assert not errors
    assert doc.position(("steps", 0, "fhir", "read")) == (4, 18)
    assert doc.position(("steps", 0, "missing", "deeper")) == (3, 5)


def test_dates_stay_text():
    doc, _ = parse_yaml("birth_date: 1979-03-28\n", "f.yaml")
    assert doc.data == {"birth_date": "1979-03-28"}


def test_syntax_error_is_located():
    doc, errors = parse_yaml("id: X\nsteps: [a, b\n", "bad.yaml")
    assert doc is None
    assert [(e.file, e.line) for e in errors] == [("bad.yaml", 3)]
    assert errors[0].message.startswith("YAML invalide")


def test_duplicate_key_is_an_error():
    _, errors = parse_yaml("id: X\nid: Y\n", "dup.yaml")
    assert [(e.line, e.column, e.message) for e in errors] == [(2, 1, "clé « id » en double")]
