"""The reference DUI's identity operations: INSi lookup, identity-document check, trait edits, import."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from lxml import etree

from conformance.reference import faults as f
from conformance.reference import identity
from conformance.reference.base import Reference, json_body, outbound, usager_operation
from conformance.reference.store import Usager

SOAP = "http://www.w3.org/2003/05/soap-envelope"
INSI_REQUEST = "http://www.cnamts.fr/INSiRecSans"
INSI_RESULT = "http://www.cnamts.fr/INSiResultat"
INSI_ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
#: documents of high trust for the RNIV (identity card, passport, residence permit)
HIGH_TRUST_DOCUMENTS = frozenset({"CNI", "PASSEPORT", "TITRE_SEJOUR"})
_STATUS_CRITERIA = {"PROV": (False, False), "RECUP": (True, False), "VALI": (False, True), "QUAL": (True, True)}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def register(app: FastAPI, ref: Reference) -> None:
    """Add the identity operations."""
    ref.operations += ["insi-lookup", "record-identity-check", "update-traits", "import-usager"]

    @usager_operation(app, ref, "/driver/v1/$insi-lookup")
    async def insi_lookup(body: dict[str, Any], usager: Usager) -> Response:
        return await _insi_lookup(ref, usager)

    @usager_operation(app, ref, "/driver/v1/$record-identity-check")
    async def record_identity_check(body: dict[str, Any], usager: Usager) -> Response:
        high_trust = body.get("document_type") in HIGH_TRUST_DOCUMENTS or ref.has(f.LOW_TRUST_DOCUMENT_VALIDATES)
        if high_trust:
            usager.document_checked = True
            if ref.has(f.DOCUMENT_CHECK_QUALIFIES):
                usager.insi_retrieved = True
        _status_changed(ref, usager)
        return ref.fhir(ref.patient(usager))

    @usager_operation(app, ref, "/driver/v1/$update-traits")
    async def update_traits(body: dict[str, Any], usager: Usager) -> Response:
        if usager.insi_retrieved and not ref.has(f.TRAITS_EDITABLE_AFTER_INSI):
            return ref.error(409, "business-rule", f"identité {usager.status} : les traits stricts renvoyés par "
                                                   "INSi ne sont pas modifiables")
        changes: dict[str, Any] = body["traits"] if isinstance(body.get("traits"), dict) else {}
        merged = {**_traits(usager), **{k: v for k, v in changes.items() if isinstance(v, str)}}
        problem = identity.traits_error(ref, merged)
        if problem:
            return ref.error(400, "value", problem)
        for key, value in merged.items():
            setattr(usager, key, identity.stored(ref, value) if key in _NAME_TRAITS else value)
        usager.version += 1
        return ref.fhir(ref.patient(usager))

    @app.post("/driver/v1/$import-usager")
    async def import_usager(request: Request) -> Response:
        body = await json_body(request, ref)
        if isinstance(body, Response):
            return body
        traits = body.get("traits") if isinstance(body, dict) else None
        if not isinstance(traits, dict) or not all(isinstance(traits.get(k), str) for k in _REQUIRED):
            return ref.error(400, "required", "traits obligatoires absents")
        ins = body.get("ins")
        problem = identity.traits_error(ref, traits)
        if problem is None and ins is not None:
            problem = identity.matricule_error(ref, (ins or {}).get("matricule"), (ins or {}).get("oid"),
                                               on_import=True)
        status = body.get("status", "PROV")
        if problem is None and status not in _STATUS_CRITERIA:
            problem = f"statut d'identité inconnu : {status!r}"
        if problem:
            return ref.error(400, "value", problem)
        insi, document = _STATUS_CRITERIA[status]
        usager_id = ref.store.next_id()
        usager = ref.store.add(Usager(
            id=usager_id, birth_name=identity.stored(ref, traits["birth_name"]),
            first_given_name=identity.stored(ref, traits["first_given_name"]),
            given_names=identity.stored(ref, traits["given_names"]), birth_date=traits["birth_date"],
            sex=traits["sex"], birth_place_cog=traits.get("birth_place_cog"),
            local_id=str(body.get("local_id") or usager_id),
            ins=(ins["matricule"], ins["oid"]) if ins else None, insi_retrieved=insi, document_checked=document,
        ))
        return ref.fhir(ref.patient(usager), 201, headers={"Location": f"/fhir/Patient/{usager.id}"})


_REQUIRED = ("birth_name", "first_given_name", "given_names", "birth_date", "sex")
_NAME_TRAITS = frozenset({"birth_name", "first_given_name", "given_names"})


def _traits(usager: Usager) -> dict[str, Any]:
    return {k: getattr(usager, k) for k in (*_REQUIRED, "birth_place_cog")}


def _status_changed(ref: Reference, usager: Usager) -> None:
    """Apply the RNIV attribute rules once the status moved; DOUT and FICT only stay on a provisional identity."""
    usager.version += 1
    if usager.status != "PROV" and not ref.has(f.DOUBTFUL_KEPT_AFTER_QUALIFICATION):
        usager.attributes -= {"DOUT", "FICT"}
    if usager.status == "QUAL" and ref.has(f.HOMONYM_ATTRIBUTE_DROPPED):
        usager.attributes -= {"HOMA"}


async def _insi_lookup(ref: Reference, usager: Usager) -> Response:
    url = ref.services.get("insi", {}).get("url")
    if not url:
        return ref.error(503, "transient", "téléservice INSi non configuré")
    name = usager.used_name if ref.has(f.INSI_QUERY_USES_USED_NAME) and usager.used_name else usager.birth_name
    try:
        async with outbound(10) as client:
            answer = await client.post(url, content=_soap_request(usager, name), headers={
                "Content-Type": f'application/soap+xml; charset=utf-8; action="{INSI_ACTION}"'})
        root = etree.fromstring(answer.content, _PARSER)
    except (httpx.HTTPError, etree.XMLSyntaxError) as exc:
        return ref.error(502, "transient", f"INSi injoignable ou réponse illisible : {exc}")
    cr = root.findtext(f".//{{{INSI_RESULT}}}CodeCR") or ""
    person = root.find(f".//{{{INSI_RESULT}}}INDIVIDU")
    if cr == "00" and person is not None:
        number = person.findtext(f".//{{{INSI_RESULT}}}NumIdentifiant") or ""
        key = person.findtext(f".//{{{INSI_RESULT}}}Cle") or ""
        usager.ins = (number + key, person.findtext(f".//{{{INSI_RESULT}}}OID") or "")
        if not ref.has(f.INSI_TRAITS_NOT_STORED):
            tiq = person.find(f"{{{INSI_RESULT}}}TIQ")
            found = {k: (tiq.findtext(f"{{{INSI_RESULT}}}{element}") if tiq is not None else None) for k, element in
                     {"birth_name": "NomNaissance", "given_names": "Prenom", "first_given_name": "PremierPrenom",
                      "sex": "Sexe", "birth_date": "DateNaissance", "birth_place_cog": "LieuNaissance"}.items()}
            for key_name, value in found.items():
                if value:
                    setattr(usager, key_name, identity.stored(ref, value) if key_name in _NAME_TRAITS else value)
        usager.insi_retrieved = True
    elif ref.has(f.INSI_FAILURE_MARKS_RECOVERED):
        usager.insi_retrieved = True
    _status_changed(ref, usager)
    return JSONResponse({"cr": cr, "patient": ref.patient(usager)})


def _soap_request(usager: Usager, birth_name: str) -> bytes:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "insi": INSI_REQUEST})
    query = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP}}}Body"), f"{{{INSI_REQUEST}}}RECSANSVITALE")
    for element, value in (("NomNaissance", birth_name), ("Prenom", usager.given_names), ("Sexe", usager.sex),
                           ("DateNaissance", usager.birth_date), ("LieuNaissance", usager.birth_place_cog)):
        if value:
            etree.SubElement(query, f"{{{INSI_REQUEST}}}{element}").text = value
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
