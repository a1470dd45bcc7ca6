"""Traceability checks: the AuditEvents a DUI returns match exactly the accesses a scenario made.

A scenario lists the accesses it made (``accesses``: persona, resource, action, allowed) and searches the traces of
its usager; every check pairs accesses with traces the same way, then judges one property, so that a DUI that
forgets refused accesses is told exactly that and nothing else. Profile: TDEAuditEvent of the ANS traceability IG
(ans.fhir.fr.tde 2.0.0: subtype ..1, period.start 1.., agent ..2, agent.who 1..), shared/reference/
messaging-access-referencing.md §2.3. Traces of the audit log's own use (DICOM 110101 "Audit Log Used") and of
changes attempted on traces are not accesses to the usager and are left aside.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conformance.checks import CheckContext, check
from conformance.checks.access import persona_label
from conformance.core.findings import CheckFailed, CheckSkipped, Finding

AUDIT_LOG_USED = "110101"
BREAK_GLASS = "bris_de_glace"
#: TRE_R248-ModeAcces, by canonical URL fragment or OID
ACCESS_MODE_SYSTEMS = ("TRE_R248", "TRE-R248", "1.2.250.1.213.1.1.4.248")
IDNAT_PREFIX_RPPS = "8"
ACTION_LABELS = {"R": "lecture", "C": "création", "U": "modification", "D": "suppression", "E": "recherche"}


@dataclass(frozen=True)
class Access:
    """One access a scenario made, as its arguments describe it."""

    persona: str
    resource: str
    action: str
    allowed: bool
    mode: str = "normal"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Access:
        """From a scenario argument ``{persona, resource, action, allowed, mode}``."""
        return cls(str(raw["persona"]), _local(str(raw["resource"])), str(raw.get("action", "R")),
                   bool(raw["allowed"]), str(raw.get("mode", "normal")))

    def describe(self, ctx: CheckContext) -> str:
        """``lecture de DocumentReference/note-3 par medecin (Dr …), autorisée``."""
        verdict = "autorisée" if self.allowed else "refusée"
        return (f"{ACTION_LABELS.get(self.action, self.action)} de {self.resource} par "
                f"{persona_label(ctx, self.persona)} ({verdict})")


def _local(reference: str) -> str:
    """``Type/id`` from a relative or absolute reference."""
    parts = reference.split("/_history")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


def _events(ctx: CheckContext) -> list[tuple[int, dict[str, Any]]]:
    """The AuditEvents of a searchset Bundle with their entry index, audit-log uses left aside."""
    body = ctx.json()
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise CheckFailed(Finding(rule="bundle-absent", location="$.resourceType", expected="Bundle",
                                  actual=body.get("resourceType") if isinstance(body, dict) else None,
                                  message="La recherche des traces ne renvoie pas un Bundle FHIR"))
    found = []
    for index, entry in enumerate(body.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "AuditEvent" and not _aside(resource):
            found.append((index, resource))
    return found


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _aside(event: Mapping[str, Any]) -> bool:
    kind = _dict(event.get("type"))
    if kind.get("code") == AUDIT_LOG_USED:
        return True
    return any(_local(ref).startswith("AuditEvent") for ref in _entity_refs(event))


def _entity_refs(event: Mapping[str, Any]) -> list[str]:
    return [str((e.get("what") or {}).get("reference")) for e in event.get("entity") or []
            if isinstance(e, dict) and isinstance(e.get("what"), dict) and (e["what"].get("reference"))]


def _object(event: Mapping[str, Any]) -> str | None:
    """The resource an event is about: its non-Patient entity if any, else the Patient."""
    refs = [_local(r) for r in _entity_refs(event)]
    others = [r for r in refs if not r.startswith("Patient/")]
    return others[0] if others else (refs[0] if refs else None)


def _moment(event: Mapping[str, Any]) -> datetime | None:
    value = (event.get("period") or {}).get("start") if isinstance(event.get("period"), dict) else None
    value = value or event.get("recorded")
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _identifiers(ctx: CheckContext, persona: str) -> set[str]:
    """The national identifiers a trace may name the persona by: IdNat (SubjectNameID) and, for RPPS, the RPPS."""
    personas = ctx.variables.get("personas")
    entry = personas.get(persona) if isinstance(personas, Mapping) else None
    psc = entry.get("psc") if isinstance(entry, Mapping) else None
    idnat = str(psc.get("SubjectNameID", "")) if isinstance(psc, Mapping) else ""
    found = {idnat} if idnat else set()
    if idnat.startswith(IDNAT_PREFIX_RPPS) and idnat[1:].isdigit():
        found.add(idnat[1:])
    return found


def _agent_ids(event: Mapping[str, Any]) -> set[str]:
    return {str((a.get("who") or {}).get("identifier", {}).get("value")) for a in event.get("agent") or []
            if isinstance(a, dict) and isinstance(a.get("who"), dict)
            and isinstance(a["who"].get("identifier"), dict)}


def _failed(event: Mapping[str, Any]) -> bool:
    return str(event.get("outcome", "0")) != "0"


@dataclass
class Pairing:
    """Accesses matched with traces; unmatched traces are left over."""

    pairs: list[tuple[Access, tuple[int, dict[str, Any]] | None]]
    extra: list[tuple[int, dict[str, Any]]]


def pair(ctx: CheckContext, accesses: Sequence[Mapping[str, Any]]) -> Pairing:
    """Each access with the trace of the same resource that agrees best (agent, outcome, action), oldest first."""
    events = sorted(_events(ctx), key=lambda e: (_moment(e[1]) or datetime.max.replace(tzinfo=UTC), e[0]))
    remaining = list(events)
    pairs: list[tuple[Access, tuple[int, dict[str, Any]] | None]] = []
    for raw in accesses:
        access = Access.parse(raw)
        candidates = [e for e in remaining if _object(e[1]) == access.resource]
        if not candidates:
            pairs.append((access, None))
            continue
        ids = _identifiers(ctx, access.persona)

        def score(item: tuple[int, dict[str, Any]], access: Access = access, ids: set[str] = ids) -> int:
            event = item[1]
            return (4 * bool(ids & _agent_ids(event)) + 2 * (_failed(event) != access.allowed)
                    + (event.get("action") == access.action))

        best = max(candidates, key=score)  # max keeps the first (oldest) of equal scores
        remaining.remove(best)
        pairs.append((access, best))
    return Pairing(pairs, remaining)


def _parse_all(accesses: Sequence[Mapping[str, Any]]) -> None:
    for raw in accesses:
        if not isinstance(raw, Mapping) or not {"persona", "resource", "allowed"} <= set(raw):
            raise ValueError("chaque accès décrit persona, resource et allowed (et action, mode)")


@check
def accesses_traced(ctx: CheckContext, *, accesses: list[dict[str, Any]], outcome: str) -> Iterator[Finding]:
    """Chaque accès de la période (autorisé ou refusé selon ``outcome``) a sa trace dans la recherche."""
    _parse_all(accesses)
    wanted = {"autorise": True, "refuse": False}[outcome]
    for access, event in pair(ctx, accesses).pairs:
        if access.allowed == wanted and event is None:
            yield Finding(rule="acces-non-trace", location="$.entry", expected=f"une trace de {access.resource}",
                          actual=None, message=f"Aucune trace pour la {access.describe(ctx)}")


@check
def audit_events_conform(ctx: CheckContext) -> Iterator[Finding]:
    """Chaque trace respecte TDEAuditEvent : period.start, type, subtype ..1, agent 1..2 avec who, source.observer."""
    for index, event in _events(ctx):
        where = f"$.entry[{index}].resource"
        label = f"AuditEvent/{event.get('id', '?')}"
        period = _dict(event.get("period"))
        if not period.get("start"):
            yield Finding(rule="tde-period-start", location=f"{where}.period.start", expected="présent", actual=None,
                          message=f"{label} : period.start absent (obligatoire dans TDEAuditEvent)")
        elif _moment({"period": period}) is None:
            yield Finding(rule="tde-period-start", location=f"{where}.period.start", expected="instant FHIR",
                          actual=period.get("start"), message=f"{label} : period.start n'est pas un instant")
        if not isinstance(event.get("type"), dict) or not event["type"].get("code"):
            yield Finding(rule="tde-type", location=f"{where}.type", expected="Coding", actual=event.get("type"),
                          message=f"{label} : type absent")
        subtypes = event.get("subtype") or []
        if len(subtypes) > 1:
            yield Finding(rule="tde-subtype", location=f"{where}.subtype", expected="au plus 1", actual=len(subtypes),
                          message=f"{label} : {len(subtypes)} subtype (au plus un dans TDEAuditEvent)")
        agents = event.get("agent") or []
        if not 1 <= len(agents) <= 2:
            yield Finding(rule="tde-agent", location=f"{where}.agent", expected="1 ou 2 agents", actual=len(agents),
                          message=f"{label} : {len(agents)} agent(s) (1 ou 2 dans TDEAuditEvent)")
        for j, agent in enumerate(agents):
            who = agent.get("who") if isinstance(agent, dict) else None
            if not isinstance(who, dict) or not (who.get("reference") or who.get("identifier") or who.get("display")):
                yield Finding(rule="tde-agent-who", location=f"{where}.agent[{j}].who", expected="présent",
                              actual=who, message=f"{label} : agent[{j}].who absent")
        source = _dict(event.get("source"))
        if not isinstance(source.get("observer"), dict):
            yield Finding(rule="tde-source", location=f"{where}.source.observer", expected="présent", actual=None,
                          message=f"{label} : source.observer absent")


@check
def audit_agent_is_professional(ctx: CheckContext, *, accesses: list[dict[str, Any]]) -> Iterator[Finding]:
    """La trace désigne le professionnel authentifié (IdNat ou RPPS), pas un compte applicatif."""
    _parse_all(accesses)
    for access, item in pair(ctx, accesses).pairs:
        if item is None:
            continue
        ids = _identifiers(ctx, access.persona)
        if ids and not ids & _agent_ids(item[1]):
            shown = [(a.get("who") or {}).get("display") or (a.get("who") or {}).get("reference")
                     for a in item[1].get("agent") or [] if isinstance(a, dict)]
            yield Finding(rule="trace-auteur", location=f"$.entry[{item[0]}].resource.agent",
                          expected=sorted(ids), actual=shown or None,
                          message=f"La trace de la {access.describe(ctx)} désigne {shown or 'aucun agent'} au lieu "
                                  f"du professionnel (identifiant {' ou '.join(sorted(ids))})")


@check
def audit_entity_is_usager(ctx: CheckContext, *, accesses: list[dict[str, Any]], usager_id: str) -> Iterator[Finding]:
    """La trace d'un accès aux données de l'usager le désigne (entity.what = Patient)."""
    _parse_all(accesses)
    target = f"Patient/{usager_id}"
    for access, item in pair(ctx, accesses).pairs:
        if item is not None and target not in {_local(r) for r in _entity_refs(item[1])}:
            yield Finding(rule="trace-usager", location=f"$.entry[{item[0]}].resource.entity", expected=target,
                          actual=_entity_refs(item[1]) or None,
                          message=f"La trace de la {access.describe(ctx)} ne désigne pas l'usager {target}")


@check
def audit_action_and_outcome(ctx: CheckContext, *, accesses: list[dict[str, Any]]) -> Iterator[Finding]:
    """La trace dit l'action réalisée et son résultat : succès (0) si l'accès est accordé, échec sinon."""
    _parse_all(accesses)
    for access, item in pair(ctx, accesses).pairs:
        if item is None:
            continue
        index, event = item
        if event.get("action") != access.action:
            yield Finding(rule="trace-action", location=f"$.entry[{index}].resource.action", expected=access.action,
                          actual=event.get("action"),
                          message=f"La trace de la {access.describe(ctx)} porte l'action {event.get('action')!r}")
        if _failed(event) == access.allowed:
            expected = "0 (succès)" if access.allowed else "4, 8 ou 12 (échec)"
            yield Finding(rule="trace-resultat", location=f"$.entry[{index}].resource.outcome", expected=expected,
                          actual=event.get("outcome"),
                          message=f"La trace de la {access.describe(ctx)} porte le résultat "
                                  f"{event.get('outcome')!r} au lieu de {expected}")


@check
def audit_search_exact(ctx: CheckContext, *, accesses: list[dict[str, Any]], after: str,
                       before: str) -> Iterator[Finding]:
    """La recherche bornée ne renvoie que les accès de la période : aucune trace en trop, aucune hors des bornes."""
    _parse_all(accesses)
    low, high = _moment({"recorded": after}), _moment({"recorded": before})
    pairing = pair(ctx, accesses)
    professionals = {i for a in accesses for i in _identifiers(ctx, Access.parse(a).persona)}
    for index, event in pairing.extra:
        if event.get("action") == "C" and not professionals & _agent_ids(event):
            continue  # the test adapter's own writes, which a DUI may trace under its technical account
        yield Finding(rule="trace-en-trop", location=f"$.entry[{index}]", expected="aucune trace sans accès",
                      actual=f"AuditEvent/{event.get('id')} ({event.get('action')} {_object(event)})",
                      message=f"La recherche renvoie une trace sans accès correspondant : AuditEvent/{event.get('id')} "
                              f"({ACTION_LABELS.get(str(event.get('action')), event.get('action'))} de "
                              f"{_object(event)})")
    for index, event in _events(ctx):
        moment = _moment(event)
        if low is not None and high is not None and moment is not None and not low <= moment <= high:
            yield Finding(rule="trace-hors-periode", location=f"$.entry[{index}].resource",
                          expected=f"{after} – {before}", actual=str(moment.isoformat()),
                          message=f"AuditEvent/{event.get('id')} est hors de la période demandée")


@check
def audit_search_empty(ctx: CheckContext, *, window: str) -> Iterator[Finding]:
    """Une recherche sur une période sans accès ne renvoie aucune trace de l'usager."""
    found = _events(ctx)
    if found:
        ids = [f"AuditEvent/{e.get('id')}" for _, e in found]
        yield Finding(rule="trace-hors-periode", location="$.entry", expected="aucune trace", actual=ids[:10],
                      message=f"La recherche bornée {window} renvoie {len(found)} trace(s) hors de la période : "
                              f"{', '.join(ids[:5])}")


@check
def audit_mode_flagged(ctx: CheckContext, *, accesses: list[dict[str, Any]]) -> Iterator[Finding]:
    """Un accès accordé en bris de glace est tracé avec ce mode d'accès (purposeOfEvent, TRE_R248)."""
    _parse_all(accesses)
    judged = False
    for access, item in pair(ctx, accesses).pairs:
        if access.mode != BREAK_GLASS:
            continue
        if item is None:
            yield Finding(rule="bris-de-glace-non-trace", location="$.entry", expected="une trace", actual=None,
                          message=f"Aucune trace pour la {access.describe(ctx)} en bris de glace")
            continue
        index, event = item
        if _failed(event):
            continue  # refused: the DUI does not offer break-glass, nothing to flag
        judged = True
        codes = [c for p in event.get("purposeOfEvent") or [] if isinstance(p, dict)
                 for c in p.get("coding") or [] if isinstance(c, dict)]
        if not any(c.get("code") == BREAK_GLASS and any(s in str(c.get("system", "")) for s in ACCESS_MODE_SYSTEMS)
                   for c in codes):
            yield Finding(rule="bris-de-glace-non-signale", location=f"$.entry[{index}].resource.purposeOfEvent",
                          expected="TRE_R248-ModeAcces#bris_de_glace",
                          actual=[f"{c.get('system')}#{c.get('code')}" for c in codes] or None,
                          message=f"La trace de la {access.describe(ctx)} ne signale pas le bris de glace")
    if not judged:
        raise CheckSkipped("aucun accès accordé en bris de glace à vérifier (le DUI ne propose pas ce mode)")


def _same(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The elements of a trace that differ (meta and text aside)."""
    keys = (set(before) | set(after)) - {"meta", "text"}
    return sorted(k for k in keys if before.get(k) != after.get(k))


@check
def trace_unchanged(ctx: CheckContext, *, before: dict[str, Any]) -> Iterator[Finding]:
    """Relue après une tentative de modification, la trace est identique."""
    status = ctx.response.status
    if not 200 <= status < 300:
        yield Finding(rule="trace-disparue", location="statut HTTP", expected=200, actual=status,
                      message=f"AuditEvent/{before.get('id')} n'est plus lisible après la tentative (statut {status})")
        return
    after = ctx.json()
    changed = _same(before, after) if isinstance(after, dict) else ["(corps)"]
    if changed:
        yield Finding(rule="trace-modifiee", location="$", expected="trace inchangée", actual=changed,
                      message=f"AuditEvent/{before.get('id')} a été modifiée par l'API : {', '.join(changed)}")


@check
def change_refused(ctx: CheckContext, *, what: str) -> Iterator[Finding]:
    """L'API refuse de modifier ou de supprimer une trace (4xx)."""
    status = ctx.response.status
    if not 400 <= status < 500:
        yield Finding(rule="trace-alterable", location="statut HTTP", expected="4xx (405, 403…)", actual=status,
                      message=f"L'API a accepté de {what} une trace (statut {status})")


@check
def traces_refused(ctx: CheckContext, *, persona: str) -> Iterator[Finding]:
    """Un professionnel non habilité ne consulte pas les traces : refus 403 (ou 404), aucune trace renvoyée."""
    status = ctx.response.status
    if status in (403, 404):
        return
    shown = ""
    if 200 <= status < 300:
        try:
            shown = f", {len(_events(ctx))} trace(s) renvoyée(s)"
        except CheckFailed:
            shown = ""
    yield Finding(rule="traces-consultees", location="statut HTTP", expected=403, actual=status,
                  message=f"Le persona {persona_label(ctx, persona)}, non habilité, consulte les traces "
                          f"(statut {status}{shown})")
