"""Traceability checks: accesses paired with AuditEvents, one property judged per check."""

import copy
import json

import pytest

from conformance.checks import CHECKS, CheckContext
from conformance.core.exchange import Exchange, Request, Response
from conformance.core.findings import CheckFailed, CheckSkipped
from conformance.session import load_fixtures

FIXTURES = load_fixtures()
FHIR = [("Content-Type", "application/fhir+json")]
MEDECIN, EDUCATEUR = "810001234567", "899700100045"
ACCESSES = [
    {"persona": "medecin", "resource": "DocumentReference/n1", "action": "R", "allowed": True},
    {"persona": "medecin", "resource": "Patient/u1", "action": "R", "allowed": True},
    {"persona": "educateur-specialise", "resource": "DocumentReference/n1", "action": "R", "allowed": False},
]


def event(ident, who, objects, outcome="0", start="2026-11-24T10:00:01Z", **changes):
    resource = {
        "resourceType": "AuditEvent", "id": ident,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "action": "R", "period": {"start": start, "end": start}, "recorded": start, "outcome": outcome,
        "purposeOfEvent": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R248-ModeAcces/FHIR/"
                                                  "TRE-R248-ModeAcces", "code": "normal"}]}],
        "agent": [{"who": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": who}}, "requestor": True}],
        "source": {"observer": {"display": "DUI"}},
        "entity": [{"what": {"reference": r}} for r in objects],
    }
    resource.update(changes)
    return resource


def good_events():
    return [
        event("t1", MEDECIN, ["Patient/u1", "DocumentReference/n1"], start="2026-11-24T10:00:01Z"),
        event("t2", MEDECIN, ["Patient/u1"], start="2026-11-24T10:00:02Z"),
        event("t3", EDUCATEUR, ["Patient/u1", "DocumentReference/n1"], outcome="4", start="2026-11-24T10:00:03Z"),
        # consulting the audit log itself is left aside
        event("t4", "3990000010/DIR0001", [], type={"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                    "code": "110101"}),
    ]


def run(check_name, events, /, **args):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": e} for e in events]}
    ctx = CheckContext("SCN-T-01", "s", Exchange(Request("GET", "http://x/fhir/AuditEvent"),
                                                 Response(200, FHIR, json.dumps(bundle).encode()), 1.0),
                       variables=FIXTURES)
    try:
        return list(CHECKS[check_name](ctx, **args) or [])
    except CheckFailed as exc:
        return exc.findings


ALL = [
    ("accesses_traced", {"accesses": ACCESSES, "outcome": "autorise"}),
    ("accesses_traced", {"accesses": ACCESSES, "outcome": "refuse"}),
    ("audit_events_conform", {}),
    ("audit_agent_is_professional", {"accesses": ACCESSES}),
    ("audit_entity_is_usager", {"accesses": ACCESSES, "usager_id": "u1"}),
    ("audit_action_and_outcome", {"accesses": ACCESSES}),
    ("audit_search_exact", {"accesses": ACCESSES, "after": "2026-11-24T10:00:00Z", "before": "2026-11-24T10:00:09Z"}),
]


@pytest.mark.parametrize(("name", "args"), ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_a_faithful_trail_passes_every_check(name, args):
    assert run(name, good_events(), **args) == []


def broken(change):
    events = good_events()
    change(events)
    return events


# (defect, the only check that must fail, its rule)
DEFECTS = {
    "patient-read-missing": (lambda ev: ev.pop(1), 0, "acces-non-trace"),
    "refusal-missing": (lambda ev: ev.pop(2), 1, "acces-non-trace"),
    "no-period-start": (lambda ev: ev[0].pop("period"), 2, "tde-period-start"),
    "technical-agent": (lambda ev: [e.update(agent=[{"who": {"reference": "Device/dui"}}]) for e in ev], 3,
                        "trace-auteur"),
    "no-usager": (lambda ev: ev[0].update(entity=[{"what": {"reference": "DocumentReference/n1"}}]), 4,
                  "trace-usager"),
    "refusal-as-success": (lambda ev: ev[2].update(outcome="0"), 5, "trace-resultat"),
    "phantom-access": (lambda ev: ev.append(event("t9", MEDECIN, ["Patient/u1"])), 6, "trace-en-trop"),
    "phantom-creation": (lambda ev: ev.append(event("t9", MEDECIN, ["Patient/u1", "DocumentReference/n7"],
                                                    action="C")), 6, "trace-en-trop"),
    "out-of-window": (lambda ev: ev[1].update(period={"start": "2026-11-23T10:00:00Z"},
                                               recorded="2026-11-23T10:00:00Z"), 6, "trace-hors-periode"),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_fails_exactly_its_check(defect):
    change, failing, rule = DEFECTS[defect]
    events = broken(change)
    for index, (name, args) in enumerate(ALL):
        findings = run(name, events, **args)
        if index == failing:
            assert findings and {f.rule for f in findings} == {rule}, (name, findings)
            assert all(f.message for f in findings)
        else:
            assert findings == [], (defect, name, findings)


def test_the_adapter_own_writes_are_not_phantom_accesses():
    events = good_events()
    events.append(event("t8", "compte-technique", ["Patient/u1", "DocumentReference/n1"], action="C"))
    assert run("audit_search_exact", events, accesses=ACCESSES, after="2026-11-24T10:00:00Z",
               before="2026-11-24T10:00:09Z") == []


def test_findings_name_the_access_and_the_persona():
    (missing,) = run("accesses_traced", broken(DEFECTS["refusal-missing"][0]), accesses=ACCESSES, outcome="refuse")
    assert missing.message == ("Aucune trace pour la lecture de DocumentReference/n1 par educateur-specialise "
                               "(Julien FAURE-TEST) (refusée)")


def test_search_empty_and_bundle_required():
    assert run("audit_search_empty", [good_events()[3]], window="avant") == []
    (extra,) = run("audit_search_empty", good_events()[:1], window="avant la période")
    assert "avant la période" in extra.message and "AuditEvent/t1" in extra.message
    ctx = CheckContext("SCN-T-01", "s", Exchange(Request("GET", "http://x/"), Response(
        200, FHIR, b'{"resourceType": "OperationOutcome"}'), 1.0), variables=FIXTURES)
    with pytest.raises(CheckFailed):
        list(CHECKS["audit_events_conform"](ctx))


def test_break_glass_mode_must_be_flagged_when_granted():
    access = [{"persona": "medecin", "resource": "DocumentReference/n1", "action": "R", "allowed": True,
               "mode": "bris_de_glace"}]
    events = good_events()[:1]
    (finding,) = run("audit_mode_flagged", events, accesses=access)
    assert finding.rule == "bris-de-glace-non-signale"
    events[0]["purposeOfEvent"][0]["coding"][0]["code"] = "bris_de_glace"
    assert run("audit_mode_flagged", events, accesses=access) == []
    events[0]["outcome"] = "4"
    with pytest.raises(CheckSkipped):
        run("audit_mode_flagged", events, accesses=access)


def test_trace_unchanged_and_change_refused():
    before = good_events()[0]
    ctx = lambda status, body: CheckContext("SCN-T-01", "s", Exchange(  # noqa: E731
        Request("GET", "http://x/"), Response(status, FHIR, json.dumps(body).encode()), 1.0), variables=FIXTURES)
    assert list(CHECKS["trace_unchanged"](ctx(200, before), before=before)) == []
    after = copy.deepcopy(before)
    after["outcome"] = "8"
    (changed,) = CHECKS["trace_unchanged"](ctx(200, after), before=before)
    assert changed.actual == ["outcome"]
    (gone,) = CHECKS["trace_unchanged"](ctx(404, {}), before=before)
    assert gone.rule == "trace-disparue"
    assert list(CHECKS["change_refused"](ctx(405, {}), what="supprimer")) == []
    (accepted,) = CHECKS["change_refused"](ctx(204, {}), what="supprimer")
    assert "supprimer" in accepted.message
    (read,) = CHECKS["traces_refused"](ctx(200, {"resourceType": "Bundle", "entry": []}), persona="aide-soignant")
    assert "non habilité" in read.message
