"""The ANS layouts a referencing file is made of: the REM export (segur-rapport) and the Convergence export.

Column names and order follow the Squash TM export plugins of the ANS (``ansforge/segur-squash-plugins``:
``segur-rapport`` and ``convergence-export``; see ``shared/reference/messaging-access-referencing.md`` §3.2): one
row per requirement and conformity scenario, up to ten numbered proofs. The harness's own result (verdict, reason,
findings) follows in columns of its own, after the official ones, so that the official part can be pasted as is.
"""

from __future__ import annotations

from collections.abc import Iterator

from conformance.reporting.i18n import finding_text
from conformance.reporting.model import Report, RequirementReport

#: proofs per row in the REM export (the plugin's ``MAX_STEP_NUMBER``)
MAX_PROOFS = 10
#: the profile for which a requirement is not conditional ("Exigence conditionnelle" = OUI otherwise)
GENERAL_PROFILE = "Général"

REM_COLUMNS = (
    "Exigence conditionnelle", "Profil", "ID Section", "Section", "Bloc", "Fonction", "Nature de l'exigence",
    "N° exigence", "Énoncé (DOIT)/(PEUT)", "N° scénario", "Scénario de conformité",
    *(name for n in range(1, MAX_PROOFS + 1) for name in (f"N° preuve {n}", f"Preuve {n}")),
)
CONVERGENCE_COLUMNS = (
    "Profil", "Chapitre", "ID", "Exigence", "Fonction", "N° scénario", "Scénario de conformité", "N° preuve",
    "Preuve", "Profil historique", "Périmètre", "Criticité", "Ordre", "Commentaire",
)
#: the harness's result, after the official columns
RESULT_COLUMNS = ("Verdict", "Motif", "Constats", "Autres preuves")


def rem_rows(report: Report, lang: str = "fr") -> Iterator[list[str]]:
    """The REM export: one row per (requirement, scenario), proofs of that scenario numbered from 1."""
    for req, scenario_id, title, proofs in _coverage(report):
        numbered = [cell for number, (ref, path) in enumerate(proofs[:MAX_PROOFS], start=1)
                    for cell in (_proof_number(scenario_id, number, ref), path)]
        numbered += [""] * (2 * MAX_PROOFS - len(numbered))
        yield [
            "NON" if req.profile == GENERAL_PROFILE else "OUI", req.profile, req.theme, req.section, "", "",
            req.level, req.id, req.text, scenario_id, title, *numbered, *_result(req, lang, proofs[MAX_PROOFS:]),
        ]


def convergence_rows(report: Report, lang: str = "fr") -> Iterator[list[str]]:
    """The Convergence export: one row per (requirement, scenario, proof), in catalogue order."""
    order = 0
    for req, scenario_id, title, proofs in _coverage(report):
        for number, (ref, path) in enumerate(proofs or [("", "")], start=1):
            order += 1
            yield [
                req.profile, req.section, req.id, req.text, "", scenario_id, title,
                _proof_number(scenario_id, number, ref) if ref else "", path, "", "", req.criticality, str(order),
                req.source, *_result(req, lang, []),
            ]


def _coverage(report: Report) -> Iterator[tuple[RequirementReport, str, str, list[tuple[str, str]]]]:
    """Each requirement with each of its scenarios (or none) and the proofs of that scenario for it."""
    scenarios = {s.id: s for s in report.scenarios}
    paths = {e.id: e.path for e in report.evidence}
    for req in report.requirements:
        played = [scenarios[s] for s in req.scenarios if s in scenarios]
        if not played:
            yield req, " ".join(req.scenarios), "", []
            continue
        for scenario in played:
            refs = [e.id for step in scenario.step_results for e in step.evidence if e.id in req.evidence]
            yield req, scenario.id, scenario.title, [(ref, paths.get(ref, "")) for ref in refs]


def _proof_number(scenario_id: str, number: int, ref: str) -> str:
    """The REM numbers a proof after its scenario (``SCN_DB/CO.01.01``); the evidence id follows for the file."""
    return f"{scenario_id}.{number:02d} ({ref})"


def _result(req: RequirementReport, lang: str, more: list[tuple[str, str]]) -> list[str]:
    return [
        req.verdict.value, req.reason or "",
        " | ".join(f"{f.scenario_id}/{f.step_id} {finding_text(f, lang)}" for f in req.findings),
        " ".join(path for _, path in more),
    ]
