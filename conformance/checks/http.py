"""HTTP and FHIR-REST basics every theme relies on: status, media type, encoding, OperationOutcome."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.checks import CheckContext, check, excerpt
from conformance.core.findings import Finding
from conformance.validation.jsonpath import find

FHIR_JSON = "application/fhir+json"
_ISSUE_SEVERITIES = {"fatal", "error", "warning", "information"}


@check
def status_code_in(ctx: CheckContext, *, codes: list[int]) -> Iterator[Finding]:
    """Le code de statut HTTP est l'un de ceux attendus."""
    status = ctx.response.status
    if status not in codes:
        yield Finding(rule="statut", location="statut HTTP", expected=codes, actual=status,
                      message=f"Statut HTTP {status} reçu, attendu : {', '.join(map(str, codes))}")


@check
def refused(ctx: CheckContext, *, what: str, codes: list[int] | None = None) -> Iterator[Finding]:
    """Le DUI refuse une saisie invalide par un code 4xx (par défaut 400, 409 ou 422), sans erreur serveur."""
    status = ctx.response.status
    allowed = codes or [400, 409, 422]
    if status not in allowed:
        verb = "a accepté" if status < 300 else "a répondu"
        yield Finding(rule="non-refuse", location="statut HTTP", expected=f"refus ({', '.join(map(str, allowed))})",
                      actual=status, message=f"Le DUI {verb} {what} (statut HTTP {status})")


@check
def no_server_error(ctx: CheckContext) -> Iterator[Finding]:
    """Le DUI ne répond jamais par une erreur serveur (5xx)."""
    status = ctx.response.status
    if status >= 500:
        yield Finding(rule="erreur-serveur", location="statut HTTP", expected="< 500", actual=status,
                      message=f"Erreur serveur {status} : le DUI doit traiter la requête "
                              "ou la refuser proprement (4xx)")


@check
def content_type_is(ctx: CheckContext, *, media_type: str) -> Iterator[Finding]:
    """L'en-tête Content-Type annonce le type de média attendu."""
    actual = ctx.response.media_type
    if actual != media_type.lower():
        yield Finding(rule="content-type", location="en-tête Content-Type", expected=media_type,
                      actual=ctx.response.header("content-type"),
                      message=f"Type de contenu « {actual or 'absent'} » au lieu de « {media_type} »")


@check
def body_utf8(ctx: CheckContext) -> Iterator[Finding]:
    """Le corps est encodé en UTF-8 et ne déclare pas d'autre jeu de caractères."""
    response = ctx.response
    charset = response.charset
    if charset not in (None, "utf-8", "utf8"):
        yield Finding(rule="charset", location="en-tête Content-Type", expected="charset=utf-8", actual=charset,
                      message=f"Jeu de caractères déclaré « {charset} » au lieu de UTF-8")
    try:
        response.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Finding(rule="octets-non-utf8", location=f"corps, octet {exc.start}", expected="UTF-8",
                      actual=excerpt(response.body[max(0, exc.start - 20): exc.start + 20]),
                      message=f"Le corps contient des octets invalides en UTF-8 (position {exc.start})")


@check
def resource_type_is(ctx: CheckContext, *, type: str) -> Iterator[Finding]:
    """Le corps est une ressource FHIR du type attendu."""
    body = ctx.json()
    actual = body.get("resourceType") if isinstance(body, dict) else None
    if actual != type:
        yield Finding(rule="resourceType", location="$.resourceType", expected=type, actual=actual,
                      message=f"Ressource de type « {actual or 'absent'} » au lieu de « {type} »")


@check
def operation_outcome_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Une erreur est décrite par un OperationOutcome FHIR avec au moins un issue (severity, code)."""
    response = ctx.response
    if response.media_type not in (FHIR_JSON, "application/json"):
        yield Finding(rule="operationoutcome-absent", location="corps de la réponse", expected="OperationOutcome",
                      actual=f"{response.media_type or 'type absent'} : {excerpt(response.body, 80)}",
                      message="L'erreur n'est pas décrite par un OperationOutcome FHIR en JSON")
        return
    body = ctx.json()
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        actual = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        yield Finding(rule="operationoutcome-absent", location="$.resourceType", expected="OperationOutcome",
                      actual=actual, message="L'erreur n'est pas décrite par un OperationOutcome FHIR")
        return
    issues = body.get("issue")
    if not isinstance(issues, list) or not issues:
        yield Finding(rule="operationoutcome-issue", location="$.issue", expected="au moins un issue", actual=issues,
                      message="L'OperationOutcome ne contient aucun issue")
        return
    for index, issue in enumerate(issues):
        if not isinstance(issue, dict):
            yield Finding(rule="operationoutcome-issue", location=f"$.issue[{index}]", expected="objet",
                          actual=issue, message=f"issue[{index}] n'est pas un objet")
            continue
        if issue.get("severity") not in _ISSUE_SEVERITIES:
            yield Finding(rule="operationoutcome-severity", location=f"$.issue[{index}].severity",
                          expected=sorted(_ISSUE_SEVERITIES), actual=issue.get("severity"),
                          message=f"issue[{index}].severity absent ou hors du jeu de valeurs FHIR")
        if not isinstance(issue.get("code"), str) or not issue["code"]:
            yield Finding(rule="operationoutcome-code", location=f"$.issue[{index}].code", expected="code IssueType",
                          actual=issue.get("code"), message=f"issue[{index}].code absent")


@check
def json_value_equals(ctx: CheckContext, *, path: str, value: Any) -> Iterator[Finding]:
    """La valeur désignée par un chemin JSONPath est celle attendue."""
    found = find(path, ctx.json())
    if not found:
        yield Finding(rule="valeur-absente", location=path, expected=value, actual=None,
                      message=f"Aucune valeur en {path}, attendu : {value!r}")
    elif value not in found:
        actual = found[0] if len(found) == 1 else found
        yield Finding(rule="valeur", location=path, expected=value, actual=actual,
                      message=f"{path} vaut {actual!r} au lieu de {value!r}")


@check
def header_present(ctx: CheckContext, *, name: str) -> Iterator[Finding]:
    """La réponse porte l'en-tête HTTP attendu."""
    if not ctx.response.header(name):
        yield Finding(rule="en-tete-absent", location=f"en-tête {name}", expected=f"en-tête {name}", actual=None,
                      message=f"L'en-tête {name} est absent de la réponse")


@check
def capability_statement_valid(ctx: CheckContext, *, fhir_version: str = "4.0.1") -> Iterator[Finding]:
    """Le CapabilityStatement décrit un serveur FHIR de la version attendue qui sert du JSON."""
    body = ctx.json()
    if not isinstance(body, dict) or body.get("resourceType") != "CapabilityStatement":
        yield Finding(rule="resourceType", location="$.resourceType", expected="CapabilityStatement",
                      actual=body.get("resourceType") if isinstance(body, dict) else None,
                      message="La réponse à /metadata n'est pas un CapabilityStatement")
        return
    if body.get("fhirVersion") != fhir_version:
        yield Finding(rule="fhirVersion", location="$.fhirVersion", expected=fhir_version,
                      actual=body.get("fhirVersion"),
                      message=f"Version FHIR annoncée « {body.get('fhirVersion')} » au lieu de {fhir_version}")
    formats: list[Any] = body["format"] if isinstance(body.get("format"), list) else []
    if not {"json", FHIR_JSON} & set(formats):
        yield Finding(rule="format", location="$.format", expected=["json", FHIR_JSON], actual=formats,
                      message="Le CapabilityStatement n'annonce pas le format JSON")
    modes = [r.get("mode") for r in body.get("rest", []) if isinstance(r, dict)]
    if "server" not in modes:
        yield Finding(rule="rest-mode", location="$.rest[*].mode", expected="server", actual=modes,
                      message="Le CapabilityStatement ne décrit pas d'interface REST en mode serveur")


@check
def driver_capabilities_valid(ctx: CheckContext, *, major_version: int = 1) -> Iterator[Finding]:
    """L'interface de pilotage annonce une version compatible et les opérations qu'elle implémente."""
    body = ctx.json()
    if not isinstance(body, dict):
        yield Finding(rule="driver-capabilities", location="$", expected="objet JSON",
                      actual=excerpt(ctx.response.body),
                      message="La description de l'interface de pilotage n'est pas un objet JSON")
        return
    version = str(body.get("driverVersion", ""))
    if version.split(".")[0] != str(major_version):
        yield Finding(rule="driver-version", location="$.driverVersion", expected=f"{major_version}.x",
                      actual=version or None,
                      message=f"Version de l'interface de pilotage « {version or 'absente'} » "
                              f"incompatible (attendu : {major_version}.x)")
    operations = body.get("operations")
    if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
        yield Finding(rule="driver-operations", location="$.operations", expected="liste de noms d'opérations",
                      actual=operations, message="L'interface de pilotage ne liste pas ses opérations")


@check
def version_metadata_present(ctx: CheckContext) -> Iterator[Finding]:
    """La ressource porte meta.versionId et meta.lastUpdated, et la réponse un ETag."""
    body = ctx.json()
    meta = body.get("meta") if isinstance(body, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    for element in ("versionId", "lastUpdated"):
        if not meta.get(element):
            yield Finding(rule=f"meta-{element}", location=f"$.meta.{element}", expected="présent", actual=None,
                          message=f"La ressource ne porte pas meta.{element}")
    etag = ctx.response.header("etag")
    if not etag:
        yield Finding(rule="etag", location="en-tête ETag", expected='W/"<versionId>"', actual=None,
                      message="La réponse ne porte pas d'en-tête ETag")
    elif meta.get("versionId") and etag != f'W/"{meta["versionId"]}"':
        yield Finding(rule="etag", location="en-tête ETag", expected=f'W/"{meta["versionId"]}"', actual=etag,
                      message="L'ETag ne correspond pas à meta.versionId")
