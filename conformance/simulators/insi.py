"""INSi simulator: the CNAM identity téléservice, answering ``rechercherInsAvecTraitsIdentite`` over SOAP.

What is modelled (shared/reference/ins-cda-fhir.md §1.5): a SOAP 1.2 service, the action
``urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite``, a ``RECSANSVITALE`` request in namespace
``http://www.cnamts.fr/INSiRecSans`` carrying the traits, and the answer codes 00 (one identity, with its
matricule, OID and traits), 01 (none), 02 (several). UNCERTAIN, and documented as the simulator's own contract in
``schemas/insi-simulator.md``: the element names inside the request and the answer, and the absence of the
ContexteLPS / WS-Security headers (the simulator accepts and ignores any header).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance.core.resources import data_path
from conformance.core.yamlsource import load_yaml
from conformance.simulators import Received, Simulator, simulator
from conformance.transport.loopback import LoopbackServer
from conformance.validation.xml import UnsafeXml, parse_xml

SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
INSI_NS = "http://www.cnamts.fr/INSiRecSans"
RESULT_NS = "http://www.cnamts.fr/INSiResultat"
ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
MAX_REQUEST_BYTES = 64 * 1024
#: request element for each trait (UNCERTAIN names, see module docstring)
TRAIT_ELEMENTS = {
    "birth_name": "NomNaissance",
    "given_names": "Prenom",
    "sex": "Sexe",
    "birth_date": "DateNaissance",
    "birth_place_cog": "LieuNaissance",
}
CR_LABELS = {"00": "OK", "01": "Aucune identité trouvée", "02": "Plusieurs identités trouvées"}


@dataclass(frozen=True)
class InsiIdentity:
    """A person INSi knows: INS and reference traits."""

    matricule: str
    oid: str
    traits: Mapping[str, str]


def load_identities() -> list[InsiIdentity]:
    """INSi's base, from ``fixtures/insi.yaml``."""
    doc, errors = load_yaml(data_path("fixtures", "insi.yaml"))
    if doc is None or errors:
        raise ValueError("; ".join(str(e) for e in errors))
    return [InsiIdentity(i["matricule"], i["oid"], i["traits"]) for i in doc.data["insi"]]


def search(identities: list[InsiIdentity], query: Mapping[str, str]) -> tuple[str, list[InsiIdentity]]:
    """CR code and candidates for a query: each given trait must match; given names match on the first one."""
    found = []
    for person in identities:
        t = person.traits
        if any(query.get(k) and query[k] != t[k] for k in ("birth_name", "sex", "birth_date", "birth_place_cog")):
            continue
        asked = (query.get("given_names") or "").split()
        if asked and t["given_names"].split()[: len(asked)] != asked:
            continue
        found.append(person)
    return ("00" if len(found) == 1 else "01" if not found else "02"), found


def soap_request(traits: Mapping[str, str]) -> bytes:
    """A RECSANSVITALE request for ``traits`` (the simulator's contract; used by tests and documentation)."""
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "insi": INSI_NS})
    body = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_NS}}}Body"), f"{{{INSI_NS}}}RECSANSVITALE")
    for key, element in TRAIT_ELEMENTS.items():
        if traits.get(key):
            etree.SubElement(body, f"{{{INSI_NS}}}{element}").text = traits[key]
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def _answer(cr: str, person: InsiIdentity | None) -> bytes:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "res": RESULT_NS})
    result = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_NS}}}Body"), f"{{{RESULT_NS}}}RESULTAT")
    code = etree.SubElement(result, f"{{{RESULT_NS}}}CR")
    etree.SubElement(code, f"{{{RESULT_NS}}}CodeCR").text = cr
    etree.SubElement(code, f"{{{RESULT_NS}}}LibelleCR").text = CR_LABELS[cr]
    if person is not None:
        individu = etree.SubElement(result, f"{{{RESULT_NS}}}INDIVIDU")
        ins = etree.SubElement(individu, f"{{{RESULT_NS}}}INSACTIF")
        ident = etree.SubElement(ins, f"{{{RESULT_NS}}}IdIndividu")
        etree.SubElement(ident, f"{{{RESULT_NS}}}NumIdentifiant").text = person.matricule[:13]
        etree.SubElement(ident, f"{{{RESULT_NS}}}Cle").text = person.matricule[13:]
        etree.SubElement(ins, f"{{{RESULT_NS}}}OID").text = person.oid
        tiq = etree.SubElement(individu, f"{{{RESULT_NS}}}TIQ")
        for key, element in {**TRAIT_ELEMENTS, "first_given_name": "PremierPrenom"}.items():
            etree.SubElement(tiq, f"{{{RESULT_NS}}}{element}").text = person.traits[key]
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def _fault(reason: str) -> Response:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    fault = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_NS}}}Body"), f"{{{SOAP_NS}}}Fault")
    code = etree.SubElement(etree.SubElement(fault, f"{{{SOAP_NS}}}Code"), f"{{{SOAP_NS}}}Value")
    code.text = "soap:Sender"
    etree.SubElement(etree.SubElement(fault, f"{{{SOAP_NS}}}Reason"), f"{{{SOAP_NS}}}Text").text = reason
    return Response(etree.tostring(envelope, encoding="UTF-8"), 500, media_type="application/soap+xml")


@simulator
class InsiSimulator(Simulator):
    """A loopback INSi that answers from its fixture base and records every query."""

    name = "insi"

    def __init__(self) -> None:
        super().__init__()
        self.identities = load_identities()
        self._server: LoopbackServer | None = None

    def app(self) -> Starlette:
        """The SOAP endpoint, as an ASGI app."""
        return Starlette(routes=[Route("/insi", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        query, reason = _parse_query(raw)
        if query is None:
            self.inbox.put(Received({"operation": "fault", "reason": reason}, raw[:MAX_REQUEST_BYTES],
                                    "application/soap+xml", {}))
            return _fault(reason)
        cr, found = search(self.identities, query)
        self.inbox.put(Received({"operation": "rechercherInsAvecTraitsIdentite", "cr": cr, **query}, raw,
                                "application/soap+xml", {"query": query, "cr": cr,
                                                         "matricules": [p.matricule for p in found]}))
        return Response(_answer(cr, found[0] if cr == "00" else None), media_type="application/soap+xml")

    async def start(self) -> None:
        """Serve on a loopback port."""
        self._server = LoopbackServer(self.app(), port=self.port).start()

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)

    def endpoints(self) -> dict[str, str]:
        """The URL the DUI's INSi client must call."""
        return {"url": f"{self._server.url}/insi"} if self._server else {}


def _parse_query(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    if len(raw) > MAX_REQUEST_BYTES:
        return None, f"requête de {len(raw)} octets, au-delà de {MAX_REQUEST_BYTES}"
    try:
        root = parse_xml(raw)
    except UnsafeXml as exc:
        return None, str(exc)
    request = root.find(f"{{{SOAP_NS}}}Body/{{{INSI_NS}}}RECSANSVITALE")
    if request is None:
        return None, "élément RECSANSVITALE absent du corps SOAP"
    query = {key: (request.findtext(f"{{{INSI_NS}}}{element}") or "").strip()
             for key, element in TRAIT_ELEMENTS.items()}
    missing = [TRAIT_ELEMENTS[k] for k in ("birth_name", "given_names", "sex", "birth_date") if not query[k]]
    if missing:
        return None, f"traits obligatoires absents : {', '.join(missing)}"
    return {k: v for k, v in query.items() if v}, ""
