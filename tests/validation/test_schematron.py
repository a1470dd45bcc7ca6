"""The project's ISO Schematron compiler, run on Saxon-HE: ISO semantics on small schemas written for the test."""

import json

import pytest

from conformance.validation.schematron import (
    RULES_PER_TEMPLATE,
    Schematron,
    SchematronError,
    _pattern_as_expression,
    compile_schematron,
    parse_svrl,
)
from conformance.validation.xml import parse_xml

HEAD = '<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2"><ns prefix="h" uri="urn:h"/>'
DOC = parse_xml(b'<r xmlns="urn:h"><a code="1"/><a code="2"/><b/><c x="{y}">t</c></r>')


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("DUI_CONFORMANCE_CACHE", str(folder))
    return folder


def results(tmp_path, body: str, name: str = "s.sch", doc=DOC, **files: str):
    for relative, text in files.items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    source = tmp_path / name
    source.write_text(HEAD + body + "</schema>", encoding="utf-8")
    return Schematron.from_file(source).validate(doc)


def test_assert_report_value_of_name_and_location(tmp_path):
    found = results(tmp_path, """<pattern id="p"><rule context="h:a">
        <assert test="@code = '1'" role="error">code <value-of select="@code"/> dans <name/></assert>
        <report test="@code = '1'" role="info">rapport</report></rule></pattern>""")
    failed = [r for r in found if r.kind == "assert"]
    assert [(r.location, r.text, r.pattern, r.is_error) for r in failed] == [("/r/a[2]", "code 2 dans a", "p", True)]
    report = next(r for r in found if r.kind == "report")
    assert (report.location, report.is_error) == ("/r/a[1]", False)


def test_first_matching_rule_of_a_pattern_wins(tmp_path):
    found = results(tmp_path, """<pattern><rule context="h:a[@code='1']"><assert test="false()">premiere</assert>
        </rule><rule context="h:a"><assert test="false()">seconde</assert></rule></pattern>
        <pattern><rule context="h:a"><assert test="false()">autre motif</assert></rule></pattern>""")
    assert sorted((r.location, r.text) for r in found) == [
        ("/r/a[1]", "autre motif"), ("/r/a[1]", "premiere"), ("/r/a[2]", "autre motif"), ("/r/a[2]", "seconde")]


def test_first_match_holds_across_the_runs_of_rules_of_a_long_pattern(tmp_path):
    # Rules go by runs of RULES_PER_TEMPLATE into templates: the nodes already fired must cross from one to the next.
    filler = "".join(f'<rule context="h:z{i}"><assert test="false()">z{i}</assert></rule>'
                     for i in range(RULES_PER_TEMPLATE + 5))
    found = results(tmp_path, f"""<pattern><rule context="h:a[@code='1']"><assert test="false()">premiere</assert>
        </rule>{filler}<rule context="h:a"><assert test="false()">derniere</assert></rule>
        <rule context="h:b"><assert test="false()">b</assert></rule></pattern>""")
    assert sorted((r.location, r.text) for r in found) == [
        ("/r/a[1]", "premiere"), ("/r/a[2]", "derniere"), ("/r/b", "b")]


def test_abstract_rules_extend_and_lets_scope(tmp_path):
    found = results(tmp_path, """<let name="g" value="'G'"/>
        <pattern><let name="pl" value="'P'"/>
        <rule abstract="true" id="base"><let name="v" value="@code"/>
        <assert test="$v = '1'">base <value-of select="concat($g, $pl, $v)"/></assert></rule>
        <rule abstract="true" id="top"><extends rule="base"/><assert test="false()">haut</assert></rule>
        <rule context="h:a"><extends rule="top"/></rule></pattern>""")
    assert sorted(r.text for r in found) == ["base GP2", "haut", "haut"]


def test_abstract_pattern_parameters(tmp_path):
    found = results(tmp_path, """<pattern abstract="true" id="card"><rule context="$parent">
        <assert test="count($child) = $n"><value-of select="name(($child)[1])"/> : <value-of select="count($child)"/>
        au lieu de <value-of select="$n"/> ($n dans le texte reste tel quel)</assert></rule></pattern>
        <pattern is-a="card" id="deux-a"><param name="parent" value="h:r"/><param name="child" value="h:a"/>
        <param name="n" value="2"/></pattern>
        <pattern is-a="card" id="un-b"><param name="parent" value="h:r"/><param name="child" value="h:b"/>
        <param name="n" value="3"/></pattern>""")
    # ISO: parameters are substituted in the queries (attributes), not in the assertion's prose.
    assert [(r.pattern, r.text) for r in found] == [("un-b", "b : 1 au lieu de 3 ($n dans le texte reste tel quel)")]


def test_includes_resolve_relative_to_the_including_file_and_ignore_case(tmp_path):
    found = results(tmp_path, '<include href="inc/Motif.sch"/>', **{
        "inc/motif.sch": '<pattern xmlns="http://purl.oclc.org/dsdl/schematron"><include href="regle.sch"/></pattern>',
        "inc/regle.sch": '<rule xmlns="http://purl.oclc.org/dsdl/schematron" context="h:b">'
                         '<assert test="false()">inclus</assert></rule>'})
    assert [r.text for r in found] == ["inclus"]
    compiled = compile_schematron(tmp_path / "s.sch")
    assert any("sans tenir compte de la casse" in note for note in compiled.workarounds)


def test_default_phase_selects_patterns(tmp_path):
    source = tmp_path / "phase.sch"
    source.write_text(HEAD.replace('queryBinding="xslt2"', 'queryBinding="xslt2" defaultPhase="court"')
                      + """<phase id="court"><active pattern="oui"/></phase>
        <pattern id="oui"><rule context="h:b"><assert test="false()">actif</assert></rule></pattern>
        <pattern id="non"><rule context="h:b"><assert test="false()">inactif</assert></rule></pattern></schema>""",
                      encoding="utf-8")
    assert [r.text for r in Schematron.from_file(source).validate(DOC)] == ["actif"]


def test_attribute_contexts_unions_and_braces(tmp_path):
    found = results(tmp_path, """<pattern><rule context="@code | h:b">
        <assert test="matches(string(.), '^[0-9]{2}$')">format {2}</assert></rule></pattern>""")
    assert sorted(r.location for r in found) == ["/r/a[1]/@code", "/r/a[2]/@code", "/r/b"]
    assert {r.test for r in found} == {"matches(string(.), '^[0-9]{2}$')"}


def test_missing_document_is_substituted(tmp_path):
    (tmp_path / "vs.xml").write_text("<codes><c v='2'/></codes>", encoding="utf-8")
    source = tmp_path / "doc.sch"
    source.write_text(HEAD + """<pattern><rule context="h:a">
        <assert test="@code = doc('include/absent.xml')//c/@v">hors jeu</assert></rule></pattern></schema>""",
                      encoding="utf-8")
    schematron = Schematron.from_file(source, {"include/absent.xml": tmp_path / "vs.xml"})
    assert [r.location for r in schematron.validate(DOC)] == ["/r/a[1]"]


def test_compiled_stylesheet_is_cached_on_disk_and_invalidated_by_content(tmp_path, cache):
    source = tmp_path / "c.sch"
    source.write_text(HEAD + '<pattern><rule context="h:b"><assert test="false()">un</assert></rule></pattern>'
                      "</schema>", encoding="utf-8")
    first = compile_schematron(source)
    entries = list((cache / "schematron").glob("*.json"))
    assert len(entries) == 1 and json.loads(entries[0].read_text())["xslt"] == first.xslt
    assert compile_schematron(source).xslt == first.xslt
    source.write_text(source.read_text().replace(">un<", ">deux<"), encoding="utf-8")
    assert "deux" in compile_schematron(source).xslt


@pytest.mark.parametrize(("body", "message"), [
    ('<include href="absent.sch"/>', "inclusion introuvable"),
    ('<pattern><rule context="h:a"><extends rule="nulle"/></rule></pattern>', "règle abstraite « nulle »"),
    ('<pattern is-a="nul" id="x"/>', "motif abstrait « nul »"),
    ('<pattern><rule abstract="true" id="a"><extends rule="b"/></rule><rule abstract="true" id="b">'
     '<extends rule="a"/></rule><rule context="h:a"><extends rule="a"/></rule></pattern>', "extension circulaire"),
    ('<pattern><rule context="h:a"><assert test="(((">x</assert></rule></pattern>', "ne compile pas"),
])
def test_broken_schematrons_are_clear_errors(tmp_path, body, message):
    with pytest.raises(SchematronError, match=message):
        results(tmp_path, body)


def test_circular_include_is_an_error(tmp_path):
    (tmp_path / "boucle.sch").write_text('<pattern xmlns="http://purl.oclc.org/dsdl/schematron">'
                                         '<include href="boucle.sch"/></pattern>', encoding="utf-8")
    with pytest.raises(SchematronError, match="inclusion circulaire"):
        results(tmp_path, '<include href="boucle.sch"/>')


def test_not_a_schematron(tmp_path):
    source = tmp_path / "x.sch"
    source.write_text("<xsl:stylesheet xmlns:xsl='http://www.w3.org/1999/XSL/Transform' version='2.0'/>")
    with pytest.raises(SchematronError, match="n'est pas un schéma ISO Schematron"):
        compile_schematron(source)


@pytest.mark.parametrize(("pattern", "expression"), [
    ("h:a", "//h:a"), ("/", "/"), ("//h:a[@x='|']/h:b", "//h:a[@x='|']/h:b"),
    ("h:a | @code", "//h:a | //@code"), ("h:a[b | c]", "//h:a[b | c]"),
])
def test_patterns_become_selecting_expressions(pattern, expression):
    assert _pattern_as_expression(pattern) == expression


def test_svrl_reader():
    svrl = ('<svrl:schematron-output xmlns:svrl="http://purl.oclc.org/dsdl/svrl"><svrl:failed-assert test="t" '
            'location="/a" role="warning"><svrl:text> deux   mots </svrl:text></svrl:failed-assert>'
            "</svrl:schematron-output>")
    [result] = parse_svrl(svrl)
    assert (result.text, result.is_error, result.kind) == ("deux mots", False, "assert")
