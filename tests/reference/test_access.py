"""The reference DUI's access rules, driven directly: token validation, the matrix, isolation, traces."""

import asyncio
import itertools
from datetime import UTC, datetime

import httpx
import pytest
import yaml

from conformance.core.resources import data_path
from conformance.reference import create_app
from conformance.reference.access_model import CATEGORY_SYSTEM, date_matches, date_range
from conformance.simulators.psc import VARIANTS, PscSimulator
from tests.support.simulators import started

TRAITS = {"birth_name": "VERIFACCES", "first_given_name": "OCTAVIE", "given_names": "OCTAVIE", "birth_date":
          "1938-05-17", "sex": "F"}
MATRIX = yaml.safe_load(data_path("fixtures", "habilitations.yaml").read_text(encoding="utf-8"))["habilitations"]
AUTRE = "990000028"


@pytest.fixture(scope="module")
def psc():
    yield from started(PscSimulator())


class Dui:
    """A fresh reference DUI wired to the simulator, called in-process."""

    def __init__(self, psc: PscSimulator | None, faults=()) -> None:
        self.psc = psc
        self.app = create_app(faults, {"psc": psc.endpoints()} if psc else {})

    @property
    def access(self):
        return self.app.state.access

    def call(self, method: str, path: str, persona: str | None = None, variant: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if persona is not None:
            headers["Authorization"] = f"Bearer {self.psc.token_for(persona, variant)}"

        async def go():
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ref") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(go())

    def usager(self, finess: str | None = None) -> str:
        usager_id = self.call("POST", "/driver/v1/$create-usager", json={"traits": TRAITS}).json()["id"]
        if finess:
            assert self.call("POST", "/driver/v1/$assign-essms",
                             json={"usager_id": usager_id, "finess": finess}).status_code == 200
        return usager_id

    def note(self, usager_id: str, category: str = "soins", text: str = "Note témoin") -> dict:
        answer = self.call("POST", "/driver/v1/$record-note",
                           json={"usager_id": usager_id, "category": category, "text": text})
        assert answer.status_code == 201
        return answer.json()

    def traces(self, usager_id: str, persona: str = "directeur", **params) -> list[dict]:
        answer = self.call("GET", "/fhir/AuditEvent", persona, params={"patient": usager_id, **params})
        assert answer.status_code == 200
        return [e["resource"] for e in answer.json()["entry"]]


def test_without_an_issuer_the_dui_serves_no_data_but_its_metadata():
    dui = Dui(None)
    usager_id = dui.usager()
    answer = dui.call("GET", f"/fhir/Patient/{usager_id}")
    assert answer.status_code == 401 and "fournisseur" in answer.json()["issue"][0]["diagnostics"]
    assert dui.call("GET", "/fhir/metadata").status_code == 200


@pytest.mark.parametrize("variant", sorted(set(VARIANTS) - {"rotated-key"}))
def test_every_bad_token_gets_401_with_a_bearer_challenge(psc, variant):
    dui = Dui(psc)
    usager_id = dui.usager()
    answer = dui.call("GET", f"/fhir/Patient/{usager_id}", "secretaire", variant)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer ") and "invalid_token" in answer.headers[
        "www-authenticate"]
    assert "VERIFACCES" not in answer.text and psc.token_for("secretaire", variant) not in answer.text


def test_no_token_gets_a_challenge_without_error_code(psc):
    dui = Dui(psc)
    answer = dui.call("GET", f"/fhir/Patient/{dui.usager()}")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == 'Bearer realm="dui-reference"'


def test_the_jwks_is_fetched_once_then_again_for_a_new_key_and_not_for_an_unknown_one(psc):
    dui = Dui(psc)
    usager_id = dui.usager()
    for persona in ("secretaire", "medecin", "infirmier", "secretaire"):
        assert dui.call("GET", f"/fhir/Patient/{usager_id}", persona).status_code == 200
    assert dui.access.jwks_fetches == 1
    for _ in range(3):
        assert dui.call("GET", f"/fhir/Patient/{usager_id}", "secretaire", "unknown-kid").status_code == 401
    assert dui.access.jwks_fetches == 2  # one look for the unknown kid, then remembered as unknown
    assert dui.call("GET", f"/fhir/Patient/{usager_id}", "secretaire", "rotated-key").status_code == 200
    assert dui.call("GET", f"/fhir/Patient/{usager_id}", "secretaire", "rotated-key").status_code == 200
    assert dui.access.jwks_fetches == 3


def cells():
    for row, action in itertools.product(MATRIX["matrice"], ("lecture", "ecriture")):
        yield pytest.param(row["profil"], row["categorie"], action, row[action],
                           id=f"{row['profil']}-{row['categorie']}-{action}")


@pytest.mark.parametrize(("profile", "category", "action", "decision"), list(cells()))
def test_every_cell_of_the_default_matrix_is_enforced(psc, profile, category, action, decision):
    dui = Dui(psc)
    usager_id = dui.usager()
    if action == "lecture":
        note = dui.note(usager_id, category)
        answer = dui.call("GET", f"/fhir/DocumentReference/{note['id']}", profile)
    else:
        answer = dui.call("POST", "/fhir/DocumentReference", profile, json={
            "resourceType": "DocumentReference", "subject": {"reference": f"Patient/{usager_id}"},
            "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}], "description": "écrit"})
    assert answer.status_code == ({"lecture": 200, "ecriture": 201}[action] if decision == "autorise" else 403)
    stored = dui.call("POST", "/driver/v1/$list-notes", json={"usager_id": usager_id}).json()["notes"]
    assert len([n for n in stored if n["text"] == "écrit"]) == (action == "ecriture" and decision == "autorise")


def test_another_establishment_gets_nothing_by_id_or_search(psc):
    dui = Dui(psc)
    usager_id = dui.usager(AUTRE)
    note = dui.note(usager_id, text="Note des Cèdres")
    assert dui.call("GET", f"/fhir/DocumentReference/{note['id']}", "medecin-autre-essms").status_code == 200
    for path in (f"/fhir/Patient/{usager_id}", f"/fhir/DocumentReference/{note['id']}"):
        refused = dui.call("GET", path, "medecin")
        assert refused.status_code == 403 and "Cèdres" not in refused.text and "VERIFACCES" not in refused.text
    for params in ({"patient": usager_id}, {"category": "soins"}, {}):
        found = dui.call("GET", "/fhir/DocumentReference", "medecin", params=params).json()
        assert note["id"] not in str(found)
    assert dui.traces(usager_id) == []  # the directeur of Les Tilleuls sees no trace of an usager of Les Cèdres


def test_break_glass_lifts_isolation_for_eligible_profiles_only_and_is_traced(psc):
    dui = Dui(psc)
    usager_id = dui.usager(AUTRE)
    note = dui.note(usager_id)
    urgent = {"X-Mode-Acces": "bris_de_glace"}
    assert dui.call("GET", f"/fhir/DocumentReference/{note['id']}", "infirmier", headers=urgent).status_code == 200
    assert dui.call("GET", f"/fhir/DocumentReference/{note['id']}", "aide-soignant", headers=urgent).status_code == 403
    assert dui.call("GET", f"/fhir/DocumentReference/{note['id']}", "infirmier").status_code == 403
    # Traces of an usager of Les Cèdres: read from the store (no directeur of Les Cèdres among the personas).
    modes = [(e.resource["agent"][0]["who"]["display"], e.resource["purposeOfEvent"][0]["coding"][0]["code"],
              e.resource["outcome"]) for e in dui.access.trail.snapshot() if e.patient == usager_id]
    assert modes == [("Thomas PETIT-TEST", "bris_de_glace", "0"), ("Nadia ROUX-TEST", "normal", "4"),
                     ("Thomas PETIT-TEST", "normal", "4")]


def test_every_access_leaves_a_tde_audit_event(psc):
    dui = Dui(psc)
    usager_id = dui.usager()
    note = dui.note(usager_id)
    dui.call("GET", f"/fhir/DocumentReference/{note['id']}", "medecin")
    dui.call("GET", f"/fhir/DocumentReference/{note['id']}", "secretaire")
    dui.call("GET", f"/fhir/Patient/{usager_id}", "secretaire")
    dui.call("GET", f"/fhir/Patient/{usager_id}")
    events = dui.traces(usager_id)
    assert [(e["action"], e["outcome"], e["subtype"][0]["code"]) for e in events] == [
        ("R", "0", "read"), ("R", "4", "read"), ("R", "0", "read"), ("R", "4", "read")]
    medecin = events[0]
    assert medecin["agent"][0]["who"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                        "value": "810001234567"}
    assert [e["what"]["reference"] for e in medecin["entity"]] == [f"Patient/{usager_id}",
                                                                   f"DocumentReference/{note['id']}"]
    assert medecin["period"]["start"] <= medecin["recorded"] and medecin["source"]["observer"]
    assert events[3]["agent"][0]["who"] == {"display": "professionnel non authentifié"}


def test_trace_search_by_date_and_who_may_search(psc):
    dui = Dui(psc)
    usager_id = dui.usager()
    start = dui.note(usager_id)["date"]
    dui.call("GET", f"/fhir/Patient/{usager_id}", "medecin")
    end = dui.note(usager_id)["date"]
    assert len(dui.traces(usager_id, date=[f"ge{start}", f"le{end}"])) == 1
    assert dui.traces(usager_id, date=f"lt{start}") == [] and dui.traces(usager_id, date=f"gt{end}") == []
    assert len(dui.traces(usager_id, **{"period-start": f"ge{start[:10]}"})) == 1
    assert dui.call("GET", "/fhir/AuditEvent", "medecin", params={"patient": usager_id}).status_code == 403
    bad = dui.call("GET", "/fhir/AuditEvent", "directeur", params={"date": "hier"})
    assert bad.status_code == 400


def test_traces_cannot_be_changed_or_deleted(psc):
    dui = Dui(psc)
    usager_id = dui.usager()
    dui.call("GET", f"/fhir/Patient/{usager_id}", "medecin")
    (event,) = dui.traces(usager_id)
    path = f"/fhir/AuditEvent/{event['id']}"
    for method in ("PUT", "PATCH", "DELETE"):
        answer = dui.call(method, path, "directeur", json={"resourceType": "AuditEvent", "outcome": "8"})
        assert answer.status_code == 405 and answer.headers["allow"] == "GET"
    assert dui.call("POST", "/fhir/AuditEvent", "directeur", json={"resourceType": "AuditEvent"}).status_code == 405
    assert dui.call("GET", path, "directeur").json() == event


def test_driver_operations_check_their_input(psc):
    dui = Dui(psc)
    usager_id = dui.usager()
    assert dui.call("POST", "/driver/v1/$record-note", json={"usager_id": usager_id, "category": "x",
                                                              "text": "t"}).status_code == 400
    assert dui.call("POST", "/driver/v1/$record-note", json={"usager_id": usager_id, "category": "soins",
                                                              "text": " "}).status_code == 400
    assert dui.call("POST", "/driver/v1/$assign-essms", json={"usager_id": usager_id,
                                                               "finess": "010000000"}).status_code == 400
    assert dui.call("POST", "/driver/v1/$list-notes", json={"usager_id": "inconnu"}).status_code == 404


@pytest.mark.parametrize(("value", "moment", "matches"), [
    ("ge2026-11-24", "2026-11-24T00:00:00+00:00", True),
    ("lt2026-11-24", "2026-11-24T00:00:00+00:00", False),
    ("le2026-11-24", "2026-11-24T23:59:59+00:00", True),
    ("gt2026-11-24T10:00:00Z", "2026-11-24T10:00:00.500000+00:00", False),  # same second: not after it
    ("gt2026-11-24T10:00:00.123456Z", "2026-11-24T10:00:00.123457+00:00", True),
    ("2026-11", "2026-11-30T12:00:00+00:00", True),
    ("eq2026", "2027-01-01T00:00:00+00:00", False),
    ("ge2026-11-24T11:00:00+01:00", "2026-11-24T10:00:00+00:00", True),
])
def test_fhir_date_search_semantics(value, moment, matches):
    assert date_matches(datetime.fromisoformat(moment).astimezone(UTC), *date_range(value)) is matches
