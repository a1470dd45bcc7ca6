import pytest

from conformance.core.errors import SourceErrors
from conformance.requirements.catalogue import load_catalogue
from conformance.requirements.coverage import coverage


def test_builtin_catalogue_loads_with_stable_ids():
    catalogue = load_catalogue()
    ids = [r.id for r in catalogue]
    assert len(ids) == len(set(ids)) >= 8
    assert all(r.id.startswith(f"DUI-{r.theme}-") for r in catalogue)
    assert catalogue.version


def test_extra_catalogue_errors_name_file_and_line(write):
    path = write("requirements.yaml", """\
version: "x"
requirements:
  - id: DUI-HTTP-01
    theme: HTTP
    title: Doublon
    text: Le DUI DOIT.
    level: EXIGENCE
    criticality: Majeure
    source: test
  - id: DUI-ZZZ-01
    theme: ZZZ
    title: Niveau faux
    text: Le DUI DOIT.
    level: OBLIGATOIRE
    criticality: Majeure
    source: test
""")
    with pytest.raises(SourceErrors) as info:
        load_catalogue([path])
    messages = [str(e) for e in info.value.errors]
    assert any(m.startswith(f"{path}:14:") and "OBLIGATOIRE" in m for m in messages), messages


def test_duplicate_id_is_reported(write):
    path = write("requirements.yaml", """\
version: "x"
requirements:
  - {id: DUI-HTTP-01, theme: HTTP, title: t, text: t, level: EXIGENCE, criticality: Majeure, source: s}
""")
    with pytest.raises(SourceErrors, match=r"requirements.yaml:3:\d+: exigence DUI-HTTP-01 déjà définie"):
        load_catalogue([path])


def test_coverage_finds_gaps_both_ways():
    catalogue = load_catalogue()
    first, *rest = [r.id for r in catalogue]
    cov = coverage(catalogue, [("SCN-A-01", rest), ("SCN-A-02", ["DUI-NOPE-01"])])
    assert cov.uncovered == [first]
    assert cov.unknown == [("SCN-A-02", "DUI-NOPE-01")]
    assert not cov.complete
