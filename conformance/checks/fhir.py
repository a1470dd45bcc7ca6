"""FHIR and TDDUI checks: what the TDDUI receiver got, judged aspect by aspect against the profile data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from conformance.checks import CheckContext, check
from conformance.core.findings import CheckFailed, CheckSkipped, Finding
from conformance.core.outcomes import Severity
from conformance.validation.fhir import FhirValidator, Issue, Report

FHIR_JSON = "application/fhir+json"
_validator: FhirValidator | None = None
#: the last (content, report): the checks of one step judge the same Bundle, validated once
_last: tuple[Any, Report] | None = None


def validator() -> FhirValidator:
    """The built-in profile data, loaded and compiled once per process."""
    global _validator
    if _validator is None:
        _validator = FhirValidator()
    return _validator


def report_for(content: Any) -> Report:
    """Validate ``content`` (memoised for the checks of one step)."""
    global _last
    if _last is None or _last[0] is not content:
        _last = (content, validator().validate(content))
    return _last[1]


def finding(issue: Issue) -> Finding:
    """An engine issue as a report finding."""
    suffix = f" (profil {issue.profile.rsplit('/', 1)[-1]})" if issue.profile else ""
    return Finding(rule=issue.rule, location=issue.location, expected=issue.expected, actual=issue.actual,
                   message=issue.message + suffix,
                   severity=Severity.ERROR if issue.severity == "error" else Severity.WARNING)


def _received_bundle(ctx: CheckContext) -> Any:
    """The Bundle the receiver simulator got in this step; unreadable JSON is a finding."""
    item = ctx.received
    if item is None:
        raise CheckSkipped("cette étape n'a rien reçu du DUI à vérifier")
    if item.content is None:
        raise CheckFailed(Finding(
            rule="json-invalide", location="corps reçu par le récepteur TDDUI", expected="Bundle FHIR JSON",
            actual=item.summary.get("outcome"),
            message=f"Le récepteur TDDUI n'a pas pu lire l'envoi du DUI : {item.summary.get('outcome')}"))
    return item.content


@check
def tddui_export_conforms(ctx: CheckContext, *, groups: list[str]) -> Iterator[Finding]:
    """L'export TDDUI reçu respecte les règles des profils (FHIR R4, FR Core, TDDUI) des groupes indiqués."""
    report = report_for(_received_bundle(ctx))
    for issue in report.in_groups(groups):
        yield finding(issue)


@check
def tddui_content_type(ctx: CheckContext) -> Iterator[Finding]:
    """L'export est envoyé en application/fhir+json."""
    item = ctx.received
    if item is None:
        raise CheckSkipped("cette étape n'a rien reçu du DUI à vérifier")
    media = item.summary.get("content_type")
    if media != FHIR_JSON:
        yield Finding(rule="content-type", location="en-tête Content-Type de l'envoi", expected=FHIR_JSON,
                      actual=media, message=f"L'export est envoyé en « {media or 'type absent'} » au lieu de "
                                            f"{FHIR_JSON}")


def _official_name(patient: Mapping[str, Any]) -> Mapping[str, Any]:
    names = [n for n in patient.get("name") or () if isinstance(n, Mapping)]
    return next((n for n in names if n.get("use") == "official"), names[0] if names else {})


@check
def tddui_patient_matches(ctx: CheckContext, *, family: str, given: str, birth_date: str,
                          gender: str) -> Iterator[Finding]:
    """L'usager exporté porte les mêmes traits que la ressource Patient lue sur le DUI."""
    bundle = _received_bundle(ctx)
    entries = bundle.get("entry") if isinstance(bundle, Mapping) else None
    patients = [(i, e["resource"]) for i, e in enumerate(entries or ())
                if isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping)
                and e["resource"].get("resourceType") == "Patient"]
    if not patients:
        yield Finding(rule="patient-absent", location="Bundle.entry", expected="une ressource Patient",
                      actual=None, message="L'export ne contient aucune ressource Patient")
        return
    index, patient = patients[0]
    where = f"Bundle.entry[{index}].resource"
    name = _official_name(patient)
    given_names = name.get("given") or []
    expected: Sequence[tuple[str, Any, Any, str]] = (
        ("name.family", family, name.get("family"), "le nom de naissance"),
        ("name.given", given, given_names[0] if given_names else None, "le premier prénom"),
        ("birthDate", birth_date, patient.get("birthDate"), "la date de naissance"),
        ("gender", gender, patient.get("gender"), "le sexe"),
    )
    for path, wanted, actual, label in expected:
        if actual != wanted:
            yield Finding(rule="incoherence-lecture", location=f"{where}.{path}", expected=wanted, actual=actual,
                          message=f"L'export transmet {label} « {actual} » alors que Patient lu sur le DUI porte "
                                  f"« {wanted} »")


@check
def fhir_resource_conforms(ctx: CheckContext, *, profile: str | None = None,
                           groups: list[str] | None = None) -> Iterator[Finding]:
    """La ressource FHIR de la réponse respecte FHIR R4 et le profil indiqué (ou ceux qu'elle déclare)."""
    report = validator().validate(ctx.json(), profile)
    for issue in report.in_groups(groups) if groups else report.issues:
        yield finding(issue)
