"""The reference DUI's access rules: Pro Santé Connect tokens, habilitations, ESSMS isolation, break-glass, traces.

Every FHIR request but ``/fhir/metadata`` must carry a PSC access token, checked against the issuer the DUI is
configured with (``services["psc"]``: issuer, JWKS, client id): RS256 signature by a key of the JWKS (fetched over
HTTP, cached, fetched again when an unknown ``kid`` shows up, so that key rotation works), issuer, audience, validity
dates, and ``acr`` = ``eidas1`` (shared/reference/messaging-access-referencing.md §2.1). With no issuer configured,
no data is served at all. The token names the professional (SubjectNameID), their profession or role (the
habilitation profile) and their establishments (FINESS of their activities).

Data categories (administratif, social, soins, identite) are FHIR DocumentReference resources with a category
coding; the Patient resource is the ``identite`` category. The header ``X-Mode-Acces: bris_de_glace`` (TRE_R248)
asks for emergency access: granted to the profiles the matrix allows, it lifts the isolation between
establishments for reads, and the trace says so. Every access, allowed or refused, is recorded as an AuditEvent
(TDEAuditEvent), searchable at ``/fhir/AuditEvent`` by the profiles allowed to read traces, and never modified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from conformance.reference.access_model import (
    CATEGORY_SYSTEM,
    FAILURE,
    SUCCESS,
    AuditTrail,
    InvalidDate,
    Matrix,
    Note,
    Principal,
    audit_event,
    date_matches,
    date_range,
    note_resource,
    now_instant,
    object_entity,
    patient_entity,
    query_entity,
)
from conformance.reference.base import Reference, json_body, outbound, usager_operation
from conformance.reference.faults import fault
from conformance.reference.store import Usager

ACCESS_MODE_HEADER = "X-Mode-Acces"
ALGORITHM = "RS256"
ACR = "eidas1"
#: the audience when the issuer's service entry names no client id
DEFAULT_CLIENT_ID = "dui-sous-test"
LEEWAY = 30
#: kids already looked up in vain: not worth another JWKS fetch (a flood of random kids cannot hammer the issuer)
MAX_UNKNOWN_KIDS = 256
JWKS_TIMEOUT = 5.0
MAX_SEARCH_RESULTS = 1000
_PATIENT_READ = re.compile(r"^/fhir/Patient/([^/]+)$")
_TYPED_PATH = re.compile(r"^/fhir/([A-Z][A-Za-z]+)(?:/([^/]+))?")
_ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}

# Faults of the access-rules theme, each declaring the requirement it must break.
TOKEN_MISSING_ACCEPTED = fault(
    "token-missing-accepted",
    "Une requête FHIR sans jeton est servie sous le compte technique du DUI, avec toutes ses données.",
    "DUI-ACC-01",
)
MALFORMED_TOKEN_CRASH = fault(
    "malformed-token-crash",
    "Un jeton mal formé fait échouer le décodage des revendications : erreur serveur 500 au lieu d'un refus 401.",
    "DUI-ACC-02",
)
EXPIRY_NOT_CHECKED = fault(
    "token-expiry-not-checked",
    "La date d'expiration du jeton (exp) n'est pas contrôlée : un jeton expiré donne accès aux données.",
    "DUI-ACC-03",
)
NOT_BEFORE_NOT_CHECKED = fault(
    "token-not-before-not-checked",
    "Les dates de début de validité du jeton (nbf, iat) ne sont pas contrôlées.",
    "DUI-ACC-04",
)
ISSUER_NOT_CHECKED = fault(
    "token-issuer-not-checked",
    "L'émetteur du jeton (iss) n'est pas contrôlé : un jeton d'un autre royaume de la même clé est accepté.",
    "DUI-ACC-05",
)
AUDIENCE_NOT_CHECKED = fault(
    "token-audience-not-checked",
    "L'audience du jeton (aud) n'est pas contrôlée : un jeton délivré à un autre logiciel est accepté.",
    "DUI-ACC-06",
)
ALG_NONE_ACCEPTED = fault(
    "token-alg-none-accepted",
    "Un jeton non signé (alg « none ») est accepté.",
    "DUI-ACC-07",
)
ALGORITHM_CONFUSION = fault(
    "token-hs256-public-key-accepted",
    "L'algorithme est lu dans l'en-tête du jeton : un jeton HS256 dont la clé HMAC est la clé publique de "
    "l'émetteur est accepté (confusion d'algorithme).",
    "DUI-ACC-08",
)
SIGNATURE_NOT_VERIFIED = fault(
    "token-signature-not-verified",
    "La signature du jeton n'est pas vérifiée (seuls l'algorithme et le kid le sont) : un jeton altéré est accepté.",
    "DUI-ACC-09",
)
EMBEDDED_JWK_TRUSTED = fault(
    "token-embedded-jwk-trusted",
    "Quand le kid est inconnu du JWKS, la clé fournie dans l'en-tête du jeton (jwk) est utilisée.",
    "DUI-ACC-10",
)
ACR_NOT_CHECKED = fault(
    "token-acr-not-checked",
    "Le niveau d'authentification (acr) n'est pas contrôlé : un jeton sans authentification eidas1 est accepté.",
    "DUI-ACC-11",
)
JWKS_NEVER_REFRESHED = fault(
    "jwks-never-refreshed",
    "Le JWKS de Pro Santé Connect est lu une fois pour toutes : après une rotation des clés, les jetons signés par "
    "la nouvelle clé sont refusés.",
    "DUI-ACC-12",
)
AIDE_SOIGNANT_READS_SOCIAL = fault(
    "habilitation-aide-soignant-reads-social",
    "La matrice d'habilitations du DUI laisse l'aide-soignant lire les données sociales de l'usager.",
    "DUI-ACC-13",
)
DENIED_WRITE_STORED = fault(
    "denied-write-stored",
    "Une écriture refusée (403) est tout de même enregistrée : l'habilitation est contrôlée après l'enregistrement.",
    "DUI-ACC-14",
)
REFUSAL_ECHOES_DATA = fault(
    "refusal-echoes-data",
    "Le message d'un refus 403 cite la note demandée et l'identité de l'usager.",
    "DUI-ACC-15",
)
REFUSAL_HEADERS_LEAK = fault(
    "refusal-headers-leak",
    "Un refus 403 porte les en-têtes de la ressource refusée (ETag, Last-Modified, Content-Location).",
    "DUI-ACC-15",
)
ERROR_ECHOES_TOKEN = fault(
    "error-echoes-token",
    "Le message d'un refus 401 recopie le jeton d'accès reçu.",
    "DUI-ACC-15",
)
ESSMS_NOT_CHECKED = fault(
    "essms-not-checked-on-read",
    "La lecture d'un usager ou d'une note par son identifiant ne contrôle pas l'établissement de l'usager : un "
    "professionnel d'un autre ESSMS y accède en changeant l'identifiant dans l'URL.",
    "DUI-ACC-16",
)
SEARCH_CROSSES_ESSMS = fault(
    "search-crosses-essms",
    "La recherche de notes ne filtre pas par établissement : elle renvoie les notes d'usagers d'un autre ESSMS.",
    "DUI-ACC-17",
)
BREAK_GLASS_FOR_EVERYONE = fault(
    "break-glass-for-everyone",
    "Le bris de glace est accordé à tout profil, y compris à ceux qui n'y ont pas droit (aide-soignant).",
    "DUI-ACC-18",
)
PATIENT_READ_NOT_TRACED = fault(
    "patient-read-not-traced",
    "Les consultations de l'identité de l'usager (lecture du Patient) ne sont pas tracées.",
    "DUI-TRC-01",
)
DENIED_NOT_TRACED = fault(
    "denied-access-not-traced",
    "Les accès refusés (401, 403) ne sont pas tracés.",
    "DUI-TRC-02",
)
PERIOD_START_MISSING = fault(
    "audit-period-start-missing",
    "Les traces n'ont pas de period.start (seulement recorded), obligatoire dans le profil TDEAuditEvent.",
    "DUI-TRC-03",
)
AGENT_IS_TECHNICAL = fault(
    "audit-agent-technical-account",
    "Les traces désignent le compte applicatif du DUI comme auteur, au lieu du professionnel authentifié.",
    "DUI-TRC-04",
)
ENTITY_WITHOUT_USAGER = fault(
    "audit-entity-without-usager",
    "La trace d'un accès à une note désigne la note mais pas l'usager concerné.",
    "DUI-TRC-05",
)
DENIED_TRACED_AS_SUCCESS = fault(
    "audit-denied-as-success",
    "Les accès refusés sont tracés avec le résultat « succès » (outcome 0).",
    "DUI-TRC-06",
)
SEARCH_DATE_IGNORED = fault(
    "audit-search-date-ignored",
    "La recherche de traces ignore les bornes de date : elle renvoie aussi des traces hors de la période demandée.",
    "DUI-TRC-07",
)
AUDIT_UPDATABLE = fault(
    "audit-event-updatable",
    "Une trace peut être modifiée par PUT sur /AuditEvent/{id}.",
    "DUI-TRC-08",
)
AUDIT_DELETABLE = fault(
    "audit-event-deletable",
    "Une trace peut être supprimée par DELETE sur /AuditEvent/{id}.",
    "DUI-TRC-09",
)
AUDIT_READABLE_BY_ALL = fault(
    "audit-readable-by-all",
    "Tout professionnel authentifié peut consulter les traces, sans habilitation particulière.",
    "DUI-TRC-10",
)
BREAK_GLASS_NOT_FLAGGED = fault(
    "break-glass-not-flagged",
    "Un accès en bris de glace est tracé comme un accès normal (mode d'accès absent de la trace).",
    "DUI-TRC-11",
)

TECHNICAL = Principal("compte-technique", "DUI de référence (compte applicatif)", None, frozenset(), technical=True)
_APPLICATION = {"reference": "Device/dui-reference", "display": "DUI de référence (compte applicatif)"}
_ANONYMOUS = {"display": "professionnel non authentifié"}


@dataclass(frozen=True)
class Refusal:
    """Why a request is not authenticated; ``token`` is what was presented (never shown, except under a fault)."""

    reason: str
    token: str | None = None


@dataclass(frozen=True)
class Decision:
    """An authorisation decision: allowed or not, why (in French, without any data), and the access mode used."""

    allowed: bool
    reason: str = ""
    mode: str = "normal"


class AccessControl:
    """Token validation, habilitations, notes and the audit trail of one reference DUI."""

    def __init__(self, ref: Reference, matrix: Matrix | None = None) -> None:
        self.ref = ref
        self.matrix = matrix or Matrix.load()
        self.trail = AuditTrail()
        #: establishment (FINESS) of each usager; new usagers are admitted in the DUI's first establishment
        self.establishment: dict[str, str] = {}
        self.notes: dict[str, Note] = {}
        self._note_ids = itertools.count(1)
        self._keys: dict[str, Any] = {}
        self._fetched = False
        #: JWKS requests made so far (the cache must keep this low: one, plus one per key rotation)
        self.jwks_fetches = 0
        self._unknown_kids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    # -- authentication ------------------------------------------------------------------------------------------

    async def authenticate(self, authorization: str | None) -> Principal | Refusal:
        """The professional a request's Bearer token names, or why it is refused."""
        psc = self.ref.services.get("psc") or {}
        if not psc.get("issuer") or not psc.get("jwks"):
            return Refusal("aucun fournisseur d'identité Pro Santé Connect n'est configuré : aucune donnée servie")
        if not authorization:
            return TECHNICAL if self.ref.has(TOKEN_MISSING_ACCEPTED) else Refusal("jeton d'accès absent")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Refusal("jeton d'accès Bearer attendu")
        if self.ref.has(MALFORMED_TOKEN_CRASH):
            _unverified_claims(token)  # decoded before any check, without error handling: garbage raises
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return Refusal("jeton mal formé", token)
        claims = await self._verified_claims(token, header, psc)
        if isinstance(claims, Refusal):
            return claims
        if claims.get("acr") != ACR and not self.ref.has(ACR_NOT_CHECKED):
            return Refusal("niveau d'authentification insuffisant (acr différent d'eidas1)", token)
        if not claims.get("SubjectNameID"):
            return Refusal("identifiant national du professionnel absent du jeton", token)
        return Principal.from_claims(claims, self.matrix)

    async def _verified_claims(self, token: str, header: dict[str, Any],
                               psc: Mapping[str, str]) -> dict[str, Any] | Refusal:
        alg = header.get("alg")
        kid = header.get("kid")
        if alg == "none" and self.ref.has(ALG_NONE_ACCEPTED):
            return _unverified_claims_or_refusal(token)
        if alg == "HS256" and self.ref.has(ALGORITHM_CONFUSION):
            key = await self.key(kid)
            return _hmac_claims(token, key) if key is not None else Refusal("clé de signature inconnue", token)
        if alg != ALGORITHM:
            return Refusal(f"algorithme de signature non accepté ({str(alg)[:16]!r}, attendu {ALGORITHM})", token)
        key = await self.key(kid)
        if key is None and self.ref.has(EMBEDDED_JWK_TRUSTED) and isinstance(header.get("jwk"), dict):
            try:
                key = jwt.PyJWK(header["jwk"]).key
            except jwt.PyJWTError:
                key = None
        if key is None:
            return Refusal("clé de signature inconnue de l'émetteur (kid absent du JWKS)", token)
        nbf = not self.ref.has(NOT_BEFORE_NOT_CHECKED)
        options: Any = {
            "require": ["exp", "iat", "iss", "aud", "sub"],
            "verify_signature": not self.ref.has(SIGNATURE_NOT_VERIFIED),
            "verify_exp": not self.ref.has(EXPIRY_NOT_CHECKED), "verify_nbf": nbf, "verify_iat": nbf,
            "verify_iss": not self.ref.has(ISSUER_NOT_CHECKED), "verify_aud": not self.ref.has(AUDIENCE_NOT_CHECKED),
        }
        try:
            claims: dict[str, Any] = jwt.decode(token, key, algorithms=[ALGORITHM], options=options, leeway=LEEWAY,
                                                audience=psc.get("client_id") or DEFAULT_CLIENT_ID,
                                                issuer=psc["issuer"])
        except jwt.ExpiredSignatureError:
            return Refusal("jeton expiré", token)
        except jwt.ImmatureSignatureError:
            return Refusal("jeton pas encore valide", token)
        except jwt.InvalidIssuerError:
            return Refusal("émetteur du jeton inattendu", token)
        except jwt.InvalidAudienceError:
            return Refusal("jeton destiné à un autre logiciel", token)
        except jwt.InvalidSignatureError:
            return Refusal("signature du jeton invalide", token)
        except jwt.DecodeError:
            return Refusal("jeton mal formé", token)
        except jwt.PyJWTError:
            return Refusal("jeton invalide", token)
        return claims

    async def key(self, kid: Any) -> Any | None:
        """The issuer's public key for ``kid``, fetching the JWKS when it is not known yet."""
        if not isinstance(kid, str):
            return None
        with self._lock:
            key = self._keys.get(kid)
            seen_in_vain = kid in self._unknown_kids
            fetched = self._fetched
        if key is not None:
            return key
        if fetched and (seen_in_vain or self.ref.has(JWKS_NEVER_REFRESHED)):
            return None
        await self._fetch_jwks()
        with self._lock:
            key = self._keys.get(kid)
            if key is None:
                self._unknown_kids[kid] = None
                while len(self._unknown_kids) > MAX_UNKNOWN_KIDS:
                    self._unknown_kids.popitem(last=False)
        return key

    async def _fetch_jwks(self) -> None:
        url = (self.ref.services.get("psc") or {}).get("jwks")
        self.jwks_fetches += 1
        try:
            async with outbound(JWKS_TIMEOUT) as client:
                answer = await client.get(str(url))
            answer.raise_for_status()
            published = answer.json().get("keys", [])
            keys = {k["kid"]: jwt.PyJWK(k).key for k in published
                    if isinstance(k, dict) and k.get("kty") == "RSA" and isinstance(k.get("kid"), str)}
        except (httpx.HTTPError, ValueError, AttributeError, jwt.PyJWTError):
            return  # the issuer is unreachable: keep what we know, refuse what we cannot verify
        with self._lock:
            # A key the issuer no longer publishes is no longer trusted.
            self._keys, self._fetched = keys, True
            for kid in keys:
                self._unknown_kids.pop(kid, None)

    def unauthorized(self, refusal: Refusal) -> Response:
        """401 with a WWW-Authenticate challenge (RFC 6750) and no data."""
        diagnostics = f"authentification refusée : {refusal.reason}"
        if self.ref.has(ERROR_ECHOES_TOKEN) and refusal.token:
            diagnostics += f" (jeton reçu : {refusal.token})"
        response = self.ref.error(401, "login", diagnostics)
        challenge = 'Bearer realm="dui-reference"'
        response.headers["WWW-Authenticate"] = challenge + (', error="invalid_token"' if refusal.token else "")
        return response

    # -- authorisation -------------------------------------------------------------------------------------------

    def establishment_of(self, usager_id: str) -> str:
        """The FINESS of the establishment the usager is admitted in."""
        return self.establishment.get(usager_id, self.matrix.default_establishment)

    def decide(self, who: Principal, usager_id: str, category: str, action: str, requested_mode: str | None = None,
               *, check_establishment: bool = True) -> Decision:
        """Whether ``who`` may perform ``action`` (lecture, ecriture) on ``category`` data of this usager."""
        if who.technical:
            return Decision(True)
        profile = who.profile.key if who.profile else None
        granted = self.matrix.allows(profile, category, action) or (
            self.ref.has(AIDE_SOIGNANT_READS_SOCIAL) and (profile, category, action) == ("aide-soignant", "social",
                                                                                         "lecture"))
        at_home = not check_establishment or self.establishment_of(usager_id) in who.establishments
        mode = "normal"
        if requested_mode == "bris_de_glace" and action == "lecture" and who.profile is not None and (
                who.profile.break_glass or self.ref.has(BREAK_GLASS_FOR_EVERYONE)):
            mode, at_home = "bris_de_glace", True
        if not granted:
            label = who.profile.label if who.profile else "profil non reconnu"
            verb = "lire" if action == "lecture" else "écrire"
            return Decision(False, f"habilitation insuffisante ({label} : {verb} les "
                                   f"{self.matrix.categories.get(category, category)})", mode)
        if not at_home:
            return Decision(False, "usager d'un autre établissement", mode)
        return Decision(True, "", mode)

    def forbidden(self, decision: Decision, resource: str, usager: Usager | None, note: Note | None = None) -> Response:
        """403 without any data of the refused resource."""
        diagnostics = f"accès refusé : {decision.reason}"
        if self.ref.has(REFUSAL_ECHOES_DATA) and usager is not None:
            what = f"la note « {note.text} »" if note else "le dossier"
            diagnostics += (f" ({what} de {usager.birth_name} {usager.first_given_name}, "
                            f"né(e) le {usager.birth_date})")
        response = self.ref.error(403, "forbidden", diagnostics)
        if self.ref.has(REFUSAL_HEADERS_LEAK):
            response.headers["ETag"] = 'W/"1"'
            response.headers["Last-Modified"] = "Tue, 24 Nov 2026 08:00:00 GMT"
            response.headers["Content-Location"] = f"/fhir/{resource}"
        return response

    def may_read_traces(self, who: Principal) -> bool:
        """Reading the audit trail is a right of its own (fixtures/habilitations.yaml, ``traces.lecture``)."""
        return who.technical or self.ref.has(AUDIT_READABLE_BY_ALL) or (
            who.profile is not None and who.profile.key in self.matrix.trace_readers)

    # -- notes ---------------------------------------------------------------------------------------------------

    def add_note(self, usager_id: str, category: str, text: str, author: dict[str, Any]) -> Note:
        """Store a note of one category."""
        with self._lock:
            note = Note(f"note-{next(self._note_ids)}", usager_id, category, text, author, now_instant())
            self.notes[note.id] = note
        return note

    def note_resource(self, note: Note) -> dict[str, Any]:
        """The note as a DocumentReference."""
        return note_resource(note, self.matrix.categories.get(note.category, note.category))

    # -- traces --------------------------------------------------------------------------------------------------

    def trace(self, who: Principal | None, *, action: str, subtype: str, allowed: bool, reason: str, start: str,
              usager_id: str | None = None, objects: tuple[str, ...] = (), mode: str = "normal",
              query: str | None = None, audit_log_used: bool = False, patient_read: bool = False) -> None:
        """Record one access as an AuditEvent (TDEAuditEvent), as the active faults make it."""
        if not allowed and self.ref.has(DENIED_NOT_TRACED):
            return
        if patient_read and self.ref.has(PATIENT_READ_NOT_TRACED):
            return
        entities = [object_entity(o) for o in objects]
        if usager_id is not None and not (objects and self.ref.has(ENTITY_WITHOUT_USAGER)):
            entities.insert(0, patient_entity(usager_id))
        if query is not None:
            entities.append(query_entity(query))
        if who is None:
            agent = _ANONYMOUS
        elif self.ref.has(AGENT_IS_TECHNICAL):
            agent = _APPLICATION
        else:
            agent = who.who()
        establishment = (self.establishment_of(usager_id) if usager_id is not None
                         else next(iter(sorted(who.establishments)), None) if who is not None else None)
        outcome = SUCCESS if allowed or self.ref.has(DENIED_TRACED_AS_SUCCESS) else FAILURE
        event = audit_event(
            who=agent, action=action, subtype=subtype, outcome=outcome,
            outcome_desc="accès autorisé" if allowed else f"accès refusé : {reason}", start=start, end=now_instant(),
            entities=entities, mode="normal" if self.ref.has(BREAK_GLASS_NOT_FLAGGED) else mode,
            site=establishment, audit_log_used=audit_log_used, with_period=not self.ref.has(PERIOD_START_MISSING))
        self.trail.add(event, usager_id, establishment)


def register(app: FastAPI, ref: Reference) -> None:
    """Add the access rules: the guard of the FHIR API, notes by category, the audit trail, driver operations."""
    ctl = AccessControl(ref)
    app.state.access = ctl
    ref.operations += ["record-note", "list-notes", "assign-essms"]
    _register_driver(app, ref, ctl)
    _register_guard(app, ref, ctl)
    _register_notes(app, ref, ctl)
    _register_traces(app, ref, ctl)


def _register_driver(app: FastAPI, ref: Reference, ctl: AccessControl) -> None:
    @usager_operation(app, ref, "/driver/v1/$record-note")
    async def record_note(body: dict[str, Any], usager: Usager) -> Response:
        category, text = body.get("category"), body.get("text")
        if category not in ctl.matrix.categories:
            return ref.error(400, "value", f"catégorie inconnue : {category!r} "
                                           f"(attendu : {', '.join(ctl.matrix.categories)})")
        if not isinstance(text, str) or not text.strip():
            return ref.error(400, "required", "le corps doit contenir un texte (« text »)")
        note = ctl.add_note(usager.id, category, text, {"display": "adaptateur de test du DUI"})
        return ref.fhir(ctl.note_resource(note), 201, headers={"Location": f"/fhir/DocumentReference/{note.id}"})

    @usager_operation(app, ref, "/driver/v1/$list-notes")
    async def list_notes(body: dict[str, Any], usager: Usager) -> Response:
        notes = [n for n in list(ctl.notes.values()) if n.usager_id == usager.id]
        return JSONResponse({"usager_id": usager.id, "notes": [
            {"id": n.id, "category": n.category, "text": n.text,
             "author": (n.author.get("identifier") or {}).get("value") or n.author.get("display")} for n in notes]})

    @usager_operation(app, ref, "/driver/v1/$assign-essms")
    async def assign_essms(body: dict[str, Any], usager: Usager) -> Response:
        finess = body.get("finess")
        if finess not in ctl.matrix.establishments:
            return ref.error(400, "value", f"établissement inconnu du DUI : {finess!r} "
                                           f"(FINESS connus : {', '.join(ctl.matrix.establishments)})")
        ctl.establishment[usager.id] = str(finess)
        return JSONResponse({"usager_id": usager.id, "finess": finess})


def _register_guard(app: FastAPI, ref: Reference, ctl: AccessControl) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not path.startswith("/fhir/") or path == "/fhir/metadata":
            return await call_next(request)
        start = now_instant()
        who = await ctl.authenticate(request.headers.get("authorization"))
        if isinstance(who, Refusal):
            usager_id, objects = _about(ref, ctl, path)
            ctl.trace(None, action=_ACTIONS.get(request.method, "E"), subtype=_subtype(request.method, path),
                      allowed=False, reason=who.reason, start=start, usager_id=usager_id, objects=objects)
            return ctl.unauthorized(who)
        request.state.principal, request.state.start = who, start
        read = _PATIENT_READ.match(path) if request.method == "GET" else None
        if read is None:
            response = await call_next(request)
            if not getattr(request.state, "traced", False):
                usager_id, objects = _about(ref, ctl, path)
                ctl.trace(who, action=_ACTIONS.get(request.method, "E"), subtype=_subtype(request.method, path),
                          allowed=response.status_code < 400, reason=f"statut {response.status_code}", start=start,
                          usager_id=usager_id, objects=objects)
            return response
        usager_id = unquote(read.group(1))
        usager = ref.store.get(usager_id)
        if usager is None:
            response = await call_next(request)
            ctl.trace(who, action="R", subtype="read", allowed=False, reason="usager inconnu", start=start,
                      objects=(f"Patient/{usager_id}",), patient_read=True)
            return response
        decision = ctl.decide(who, usager_id, "identite", "lecture", request.headers.get(ACCESS_MODE_HEADER),
                              check_establishment=not ref.has(ESSMS_NOT_CHECKED))
        if not decision.allowed:
            ctl.trace(who, action="R", subtype="read", allowed=False, reason=decision.reason, start=start,
                      usager_id=usager_id, mode=decision.mode, patient_read=True)
            return ctl.forbidden(decision, f"Patient/{usager_id}", usager)
        response = await call_next(request)
        ctl.trace(who, action="R", subtype="read", allowed=response.status_code < 400,
                  reason=f"statut {response.status_code}", start=start, usager_id=usager_id, mode=decision.mode,
                  patient_read=True)
        return response


def _register_notes(app: FastAPI, ref: Reference, ctl: AccessControl) -> None:
    @app.get("/fhir/DocumentReference/{note_id}")
    async def read_note(note_id: str, request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        note = ctl.notes.get(note_id)
        if note is None:
            ctl.trace(who, action="R", subtype="read", allowed=False, reason="ressource inconnue",
                      start=request.state.start, objects=(f"DocumentReference/{note_id}",))
            return ref.error(404, "not-found", f"DocumentReference/{note_id} inconnu")
        decision = ctl.decide(who, note.usager_id, note.category, "lecture", request.headers.get(ACCESS_MODE_HEADER),
                              check_establishment=not ref.has(ESSMS_NOT_CHECKED))
        ctl.trace(who, action="R", subtype="read", allowed=decision.allowed, reason=decision.reason,
                  start=request.state.start, usager_id=note.usager_id, objects=(f"DocumentReference/{note.id}",),
                  mode=decision.mode)
        if not decision.allowed:
            return ctl.forbidden(decision, f"DocumentReference/{note.id}", ref.store.get(note.usager_id), note)
        return ref.fhir(ctl.note_resource(note), headers={"ETag": 'W/"1"'})

    @app.get("/fhir/DocumentReference")
    async def search_notes(request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        params = request.query_params
        patient = (params.get("patient") or params.get("subject") or "").removeprefix("Patient/") or None
        category = params.get("category")
        category = category.rsplit("|", 1)[-1] if category else None
        found = [n for n in list(ctl.notes.values())
                 if (patient is None or n.usager_id == patient) and (category is None or n.category == category)
                 and ctl.decide(who, n.usager_id, n.category, "lecture",
                                check_establishment=not ref.has(SEARCH_CROSSES_ESSMS)).allowed]
        known_patient = patient if patient is not None and ref.store.get(patient) is not None else None
        ctl.trace(who, action="E", subtype="search-type", allowed=True, reason="", start=request.state.start,
                  usager_id=known_patient, query=None if known_patient else str(request.url.query))
        return ref.fhir(_bundle(request, [ctl.note_resource(n) for n in found], len(found)))

    @app.post("/fhir/DocumentReference")
    async def write_note(request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        body = await json_body(request, ref)
        if isinstance(body, Response):
            return body
        usager_id, category, text, problem = _note_fields(body, ctl)
        usager = ref.store.get(usager_id) if usager_id else None
        if problem is None and usager is None:
            problem = f"usager inconnu : Patient/{usager_id}"
        if problem is not None or usager is None or category is None or text is None:
            ctl.trace(who, action="C", subtype="create", allowed=False, reason="écriture invalide",
                      start=request.state.start, usager_id=usager.id if usager else None)
            return ref.error(422 if usager_id else 400, "invalid", problem or "écriture invalide")
        decision = ctl.decide(who, usager.id, category, "ecriture")
        if not decision.allowed:
            if ref.has(DENIED_WRITE_STORED):
                ctl.add_note(usager.id, category, text, who.who())
            ctl.trace(who, action="C", subtype="create", allowed=False, reason=decision.reason,
                      start=request.state.start, usager_id=usager.id)
            return ctl.forbidden(decision, "DocumentReference", usager)
        note = ctl.add_note(usager.id, category, text, who.who())
        ctl.trace(who, action="C", subtype="create", allowed=True, reason="", start=request.state.start,
                  usager_id=usager.id, objects=(f"DocumentReference/{note.id}",))
        return ref.fhir(ctl.note_resource(note), 201,
                        headers={"Location": f"/fhir/DocumentReference/{note.id}", "ETag": 'W/"1"'})


def _register_traces(app: FastAPI, ref: Reference, ctl: AccessControl) -> None:
    def refused(who: Principal, request: Request, query: str | None, objects: tuple[str, ...] = ()) -> Response:
        ctl.trace(who, action="R" if objects else "E", subtype="read" if objects else "search-type", allowed=False,
                  reason="consultation des traces non autorisée", start=request.state.start, query=query,
                  objects=objects, audit_log_used=True)
        label = who.profile.label if who.profile else "profil non reconnu"
        return ctl.forbidden(Decision(False, f"consultation des traces réservée ({label})"), "AuditEvent", None)

    @app.get("/fhir/AuditEvent")
    async def search_traces(request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        query = str(request.url.query)
        if not ctl.may_read_traces(who):
            return refused(who, request, query)
        params = request.query_params
        try:
            dates = [date_range(v) for v in params.getlist("date")]
            starts = [date_range(v) for v in params.getlist("period-start")]
        except InvalidDate as exc:
            return ref.error(400, "value", f"date de recherche invalide : {exc}")
        if ref.has(SEARCH_DATE_IGNORED):
            dates, starts = [], []
        patient = (params.get("patient") or "").removeprefix("Patient/") or None
        found = [r for r in ctl.trail.snapshot()
                 if (who.technical or r.establishment in who.establishments)
                 and (patient is None or r.patient == patient)
                 and all(date_matches(r.recorded, *d) for d in dates)
                 and all(date_matches(r.period_start, *d) for d in starts)]
        count = _count(params.get("_count"))
        ctl.trace(who, action="E", subtype="search-type", allowed=True, reason="", start=request.state.start,
                  query=query, audit_log_used=True)
        return ref.fhir(_bundle(request, [r.resource for r in found[:count]], len(found)))

    @app.get("/fhir/AuditEvent/{event_id}")
    async def read_trace(event_id: str, request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        if not ctl.may_read_traces(who):
            return refused(who, request, None, (f"AuditEvent/{event_id}",))
        record = ctl.trail.get(event_id)
        visible = record is not None and (who.technical or record.establishment in who.establishments)
        ctl.trace(who, action="R", subtype="read", allowed=visible, reason="" if visible else "trace inconnue",
                  start=request.state.start, objects=(f"AuditEvent/{event_id}",), audit_log_used=True)
        if record is None or not visible:
            return ref.error(404, "not-found", f"AuditEvent/{event_id} inconnu")
        return ref.fhir(record.resource)

    @app.api_route("/fhir/AuditEvent/{event_id}", methods=["PUT", "PATCH", "DELETE"])
    async def change_trace(event_id: str, request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        record = ctl.trail.get(event_id)
        action, subtype = ("D", "delete") if request.method == "DELETE" else ("U", "update")
        if record is not None and request.method == "DELETE" and ref.has(AUDIT_DELETABLE):
            ctl.trail.remove(event_id)
            return Response(status_code=204)
        if record is not None and request.method == "PUT" and ref.has(AUDIT_UPDATABLE):
            body = await json_body(request, ref)
            if isinstance(body, dict):
                record.resource.update({k: v for k, v in body.items() if k not in ("id", "resourceType")})
            return ref.fhir(record.resource)
        ctl.trace(who, action=action, subtype=subtype, allowed=False, reason="les traces sont inaltérables",
                  start=request.state.start, objects=(f"AuditEvent/{event_id}",))
        response = ref.error(405, "not-supported", "les traces ne peuvent être ni modifiées ni supprimées")
        response.headers["Allow"] = "GET"
        return response

    @app.post("/fhir/AuditEvent")
    async def create_trace(request: Request) -> Response:
        who: Principal = request.state.principal
        request.state.traced = True
        ctl.trace(who, action="C", subtype="create", allowed=False, reason="les traces sont produites par le DUI",
                  start=request.state.start, objects=("AuditEvent",))
        response = ref.error(405, "not-supported", "les traces sont produites par le DUI, pas déposées par l'API")
        response.headers["Allow"] = "GET"
        return response


def _about(ref: Reference, ctl: AccessControl, path: str) -> tuple[str | None, tuple[str, ...]]:
    """The usager and the resource a FHIR path designates, as far as the DUI knows them."""
    match = _TYPED_PATH.match(path)
    if match is None:
        return None, ()
    kind, ident = match.group(1), unquote(match.group(2)) if match.group(2) else None
    if ident is None:
        return None, ()
    if kind == "Patient":
        return (ident, ()) if ref.store.get(ident) is not None else (None, (f"Patient/{ident}",))
    note = ctl.notes.get(ident) if kind == "DocumentReference" else None
    return (note.usager_id if note else None), (f"{kind}/{ident}",)


def _subtype(method: str, path: str) -> str:
    match = _TYPED_PATH.match(path)
    has_id = bool(match and match.group(2))
    return {"GET": "read" if has_id else "search-type", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, "operation")


def _note_fields(body: Any, ctl: AccessControl) -> tuple[str | None, str | None, str | None, str | None]:
    """(usager id, category, text, problem) of a DocumentReference a client writes."""
    if not isinstance(body, dict) or body.get("resourceType") != "DocumentReference":
        return None, None, None, "ressource DocumentReference attendue"
    reference = str((body.get("subject") or {}).get("reference") or "")
    usager_id = reference.removeprefix("Patient/") if reference.startswith("Patient/") else None
    codes = [c.get("code") for cat in body.get("category") or [] if isinstance(cat, dict)
             for c in cat.get("coding") or [] if isinstance(c, dict) and c.get("system") in (CATEGORY_SYSTEM, None)]
    category = next((c for c in codes if c in ctl.matrix.categories), None)
    text = body.get("description")
    for content in body.get("content") or []:
        data = ((content or {}).get("attachment") or {}).get("data") if isinstance(content, dict) else None
        if not text and isinstance(data, str):
            try:
                text = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return usager_id, category, None, "pièce jointe illisible (base64 UTF-8 attendu)"
    if usager_id is None:
        return None, category, None, "subject doit désigner un Patient (Patient/{id})"
    if category is None:
        return usager_id, None, None, f"category doit porter un code de {CATEGORY_SYSTEM}"
    if not isinstance(text, str) or not text.strip():
        return usager_id, category, None, "texte absent (description ou pièce jointe)"
    return usager_id, category, text, None


def _bundle(request: Request, resources: list[dict[str, Any]], total: int) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + "/fhir"
    return {"resourceType": "Bundle", "type": "searchset", "total": total,
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in resources]}


def _count(value: str | None) -> int:
    try:
        return max(0, min(int(value), MAX_SEARCH_RESULTS)) if value is not None else MAX_SEARCH_RESULTS
    except ValueError:
        return MAX_SEARCH_RESULTS


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unchecked; raises on anything that is not base64url JSON."""
    claims = json.loads(_b64decode(token.split(".")[1]))
    if not isinstance(claims, dict):
        raise ValueError("revendications hors objet JSON")
    return claims


def _unverified_claims_or_refusal(token: str) -> dict[str, Any] | Refusal:
    try:
        return _unverified_claims(token)
    except (ValueError, IndexError, binascii.Error):
        return Refusal("jeton mal formé", token)


def _hmac_claims(token: str, key: Any) -> dict[str, Any] | Refusal:
    """Algorithm confusion (a fault): the RSA public key, as PEM, used as the HMAC secret."""
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head, _, signature = token.rpartition(".")
    expected = base64.urlsafe_b64encode(hmac.new(pem, head.encode("ascii"), hashlib.sha256).digest()).rstrip(b"=")
    if not hmac.compare_digest(expected, signature.encode("utf-8")):
        return Refusal("signature du jeton invalide", token)
    return _unverified_claims_or_refusal(token)
