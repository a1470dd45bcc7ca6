"""The detection matrix: each fault of the reference DUI breaks exactly the obligations it declares.

Each fault is played on the themes it can touch only (its requirements, their dependents), which keeps the matrix
cheap; per theme, one more run with every fault of the other themes switched on proves that nothing outside a fault's
declaration moves. A check that cannot fail, a binding that proves nothing, or a scenario that proves nothing shows up
here at once.
"""

from functools import cache
from pathlib import Path

import pytest

from conformance.core.outcomes import CheckStatus, Verdict
from conformance.reference import FAULTS, Fault
from conformance.reference.faults import EVERY_REQUIREMENT
from conformance.reporting.model import Report
from conformance.session import Suite, load_suite
from tests.support.runs import BOUNDED, play

SUITE: Suite = load_suite()
CATALOGUE = SUITE.catalogue
THEMES = CATALOGUE.themes
SCENARIOS = {s.id: s for s in SUITE.scenarios}
ROOT = Path(__file__).resolve().parents[1]


def _expected(fault: Fault) -> set[str]:
    """The requirements the fault must move (declared and their dependents); for a variant, the ones it touches."""
    if EVERY_REQUIREMENT in fault.targets:
        return {r.id for r in CATALOGUE}
    touched = {t.split(".", 1)[0] for t in fault.targets}
    return touched | {dep for req in touched for dep in CATALOGUE.dependents(req)}


def _themes(requirements: set[str]) -> tuple[str, ...]:
    return tuple(sorted({CATALOGUE[r].theme for r in requirements}))


def _group(theme: str) -> list[str]:
    """Faults and variants whose effect can reach ``theme``."""
    return [name for name, fault in FAULTS.items() if theme in _themes(_expected(fault))]


@cache
def _baseline() -> dict[str, Verdict]:
    return {r.id: r.verdict for r in play(SUITE).requirements}


@cache
def _faulted(name: str) -> Report:
    return play(SUITE, faults=(name,), themes=_themes(_expected(FAULTS[name])), settings=BOUNDED)


def _binding_keys(report: Report, status: CheckStatus) -> set[tuple[str, int, str]]:
    """(file, line, check) of every call that ended with ``status``; generated scenarios fold into their file."""
    keys = set()
    for scenario_report in report.scenarios:
        scenario = SCENARIOS[scenario_report.id]
        steps = {s.id: s for s in scenario.steps}
        for step_result in scenario_report.step_results:
            step = steps[step_result.step_id]
            # The runner records a step's calls in their order: the n-th result of a name is its n-th call.
            calls: dict[str, list[int]] = {}
            for call in step.checks:
                calls.setdefault(call.name, []).append(call.line)
            for result in step_result.checks:
                lines = calls.get(result.check)
                line = lines.pop(0) if lines else step.line
                if result.status is status:
                    keys.add((scenario.file, line, result.check))
    return keys


def _problems(name: str) -> list[str]:
    """What is wrong with one fault's run: moves it should not make, declared obligations not caught by their checks."""
    fault = FAULTS[name]
    expected = _expected(fault)
    verdict = fault.verdict
    report = _faulted(name)
    verdicts = {r.id: r.verdict for r in report.requirements if r.not_selected is None}
    problems = []
    moved = {req for req, v in verdicts.items() if v is not _baseline()[req]}
    if fault.variant:
        if moved:
            problems.append(f"variante {name} : {sorted(moved)} ne restent pas conformes")
        return problems
    wrong = {req: str(v) for req, v in verdicts.items() if req in expected and v is not verdict}
    if wrong:
        problems.append(f"{name} : attendu {verdict} pour {wrong}")
    extra = sorted(moved - expected)
    if extra:
        problems.append(f"{name} : fait bouger aussi {extra}")
    for req in expected & set(verdicts):
        result = report.requirement(req)
        said = result.findings if verdict is Verdict.NON_CONFORME else result.errors
        if not said or not all(getattr(s, "message", s) for s in said):
            problems.append(f"{name} : {req} sans constat ni message")
    if verdict is Verdict.NON_CONFORME:
        for ob_id in fault.obligations:
            obligation = CATALOGUE.obligations[ob_id]
            checks = {c for s in report.scenarios for step in s.step_results for c in step.checks
                      if c.status is CheckStatus.FAILED and obligation.requirement in c.requirements}
            if not {c.check for c in checks} & set(obligation.checks):
                problems.append(f"{name} : {ob_id} devait être vu par {list(obligation.checks)}, échecs : "
                                f"{sorted({c.check for c in checks})}")
    return problems


def test_reference_is_conforme_on_every_requirement():
    assert set(_baseline().values()) == {Verdict.CONFORME}


def test_every_requirement_is_broken_by_some_fault():
    # A fault that stops every exchange proves nothing about a particular check: it does not count here.
    broken = {req for _, fault in FAULTS.items() if EVERY_REQUIREMENT not in fault.targets
              for req in fault.requirements}
    assert broken >= {r.id for r in CATALOGUE}
    assert broken <= {r.id for r in CATALOGUE}, "a fault names a requirement the catalogue does not have"


def test_every_fault_and_variant_names_known_targets():
    known = set(CATALOGUE.requirements) | set(CATALOGUE.obligations) | {EVERY_REQUIREMENT}
    assert {(n, t) for n, f in FAULTS.items() for t in f.targets if t not in known} == set()


def test_pending_bindings_exist():
    bound = {(_relative(file), check) for file, line, check in _theme_bindings(set(CATALOGUE.requirements))}
    assert sorted(_pending() - bound) == []


@pytest.mark.slow
@pytest.mark.parametrize("theme", THEMES)
def test_faults_reaching_theme_break_exactly_their_obligations(theme):
    problems = [p for name in _group(theme) for p in _problems(name)]
    assert problems == []


@pytest.mark.slow
@pytest.mark.parametrize("theme", THEMES)
def test_every_check_binding_of_theme_fails_under_some_fault(theme):
    requirements = {r.id for r in CATALOGUE if r.theme == theme}
    bound = _theme_bindings(requirements)
    failed = set().union(*(_binding_keys(_faulted(n), CheckStatus.FAILED) for n in _group(theme)
                           if not FAULTS[n].variant))
    never = {(_relative(file), check) for file, line, check in bound - failed}
    pending = _pending() & {(_relative(file), check) for file, line, check in bound}
    assert sorted(never - pending) == [], f"liaisons du thème {theme} qu'aucun défaut ne fait échouer"
    assert sorted(pending - never) == [], f"prouvées désormais : retirer de {PENDING.name}"


PENDING = Path(__file__).with_name("detection_pending.txt")


def _relative(file: str) -> str:
    return Path(file).resolve().relative_to(ROOT).as_posix()


def _pending() -> set[tuple[str, str]]:
    """The ratchet of bindings still waiting for a fault that fails them (issue 13)."""
    lines = (line.split() for line in PENDING.read_text(encoding="utf-8").splitlines())
    return {(words[0], words[1]) for words in lines if words and not words[0].startswith("#")}


def _theme_bindings(requirements: set[str]) -> set[tuple[str, int, str]]:
    """(file, line, check) of every call bound to ``requirements``; captures are plumbing, not proofs."""
    found = set()
    for scenario in SUITE.scenarios:
        for step in scenario.steps:
            found |= {(scenario.file, call.line, call.name) for call in step.checks
                      if set(call.requirements) & requirements}
            if step.kind in ("await", "manual") and set(scenario.requirements) & requirements:
                found.add((scenario.file, step.line, "reception" if step.kind == "await" else "attestation"))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("theme", THEMES)
def test_faults_of_other_themes_leave_theme_conforme(theme):
    # Hostile and connection faults are left out: each alone is played on its own themes above, and together they
    # would only add timeouts.
    others = tuple(name for name, fault in FAULTS.items()
                   if fault.variant or (theme not in _themes(_expected(fault)) and not fault.on_socket
                                        and fault.verdict is Verdict.NON_CONFORME))
    report = play(SUITE, faults=others, themes=(theme,), settings=BOUNDED)
    moved = {r.id: str(r.verdict) for r in report.requirements if r.not_selected is None
             and r.verdict is not Verdict.CONFORME}
    assert moved == {}
