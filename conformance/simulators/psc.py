"""Pro Santé Connect simulator: the OIDC provider a DUI trusts, with test personas and deliberately bad tokens.

What is modelled (shared/reference/messaging-access-referencing.md §2.1): the realm paths of the ANS Keycloak
(``/auth/realms/esante-wallet`` with ``/.well-known/wallet-openid-configuration`` and ``/protocol/openid-connect/
{auth,token,userinfo,certs}``), the authorization-code flow with PKCE S256 and ``acr_values=eidas1``, JWS tokens
signed RS256 with keys generated at run time and published as a JWKS (with rotation), and the userinfo claims of
PSC-POC (SubjectNameID, SubjectRefPro exercices and activities…). The simulator's own contract, documented in
``schemas/psc-simulator.md``: the persona is chosen with ``login_hint`` at the authorization endpoint (the real
service asks the professional's e-CPS), the token endpoint needs no client authentication (PSC requires mTLS), and
the access token carries the userinfo claims (UNCERTAIN whether real PSC access tokens do).

The engine mints tokens in-process with ``token_for`` (no HTTP round trip); the same tokens come out of the token
endpoint. ``token_variants`` are the negative cases of the access-rules suite; ``rotated-key`` is the one valid
variant: signed with a key the JWKS announces only from that moment, so a DUI that never refreshes its JWKS fails.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conformance.core.resources import data_path
from conformance.core.yamlsource import load_yaml
from conformance.simulators import Received, TokenIssuer, simulator
from conformance.transport.loopback import LoopbackServer

REALM = "/auth/realms/esante-wallet"
OIDC = f"{REALM}/protocol/openid-connect"
#: the audience of the tokens: the client id a DUI under test is registered with at the simulator
CLIENT_ID = "dui-sous-test"
ACR = "eidas1"
SCOPE = "openid scope_all"
ALGORITHM = "RS256"
#: lifetime of a valid access token; a cached one is re-minted when less than REFRESH_MARGIN is left
TOKEN_LIFETIME = 3600
REFRESH_MARGIN = 600
CODE_LIFETIME = 60
MAX_FORM_BYTES = 16 * 1024
#: the production issuer: a token from the real service is "from another issuer" for a DUI in test mode
FOREIGN_ISSUER = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
FOREIGN_AUDIENCE = "autre-logiciel"
#: Keycloak's level for an authentication reused from an SSO cookie: not the eIDAS substantial level PSC requires
WEAK_ACR = "0"
VARIANTS = {
    "malformed": "jeton mal formé",
    "expired": "jeton expiré",
    "not-yet-valid": "jeton pas encore valide",
    "wrong-issuer": "jeton d'un autre émetteur",
    "wrong-audience": "jeton destiné à un autre logiciel",
    "alg-none": "jeton non signé (alg none)",
    "hs256-public-key": "jeton signé en HS256 avec la clé publique",
    "bad-signature": "jeton altéré après signature",
    "unknown-kid": "jeton signé par une clé non publiée",
    "wrong-acr": "jeton sans authentification forte (acr différent d'eidas1)",
    "rotated-key": "jeton valide signé par une nouvelle clé",
}


@dataclass(frozen=True)
class SigningKey:
    """An RSA key with its RFC 7638 thumbprint as ``kid`` and its public JWK."""

    private: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, Any]

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh 2048-bit key."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        canonical = json.dumps({k: public[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
        kid = _b64(hashlib.sha256(canonical.encode()).digest())
        return cls(private, kid, {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": kid,
                                  "n": public["n"], "e": public["e"]})

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM: what an algorithm-confusion attacker uses as HMAC secret."""
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


class KeyPool:
    """Keys generated once per process on first use, so that a test campaign of many runs pays for them once."""

    def __init__(self) -> None:
        self._keys: list[SigningKey] = []
        self._lock = threading.Lock()

    def get(self, index: int) -> SigningKey:
        """The ``index``-th key of the process, generated now if needed."""
        with self._lock:
            while len(self._keys) <= index:
                self._keys.append(SigningKey.generate())
            return self._keys[index]


_POOL = KeyPool()
#: pool slots: the signing key of a run, the key a rotation announces, the attacker's key of ``unknown-kid``
_CURRENT, _NEXT, _ATTACKER = 0, 1, 2


def load_personas() -> dict[str, dict[str, Any]]:
    """Personas with a PSC identity (``psc`` claims), from ``fixtures/personas.yaml``."""
    doc, errors = load_yaml(data_path("fixtures", "personas.yaml"))
    if doc is None or errors:
        raise ValueError("; ".join(str(e) for e in errors))
    personas = doc.data.get("personas", {})
    return {name: dict(p["psc"]) for name, p in personas.items() if isinstance(p, dict) and isinstance(p.get("psc"),
                                                                                                       dict)}


@dataclass
class _Grant:
    """An authorization code waiting for its exchange at the token endpoint."""

    persona: str
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    expires: float


@dataclass
class _State:
    """What the simulator holds between requests; guarded by a lock (the server runs in its own thread)."""

    published: list[SigningKey] = field(default_factory=list)
    signing: SigningKey | None = None
    standby: SigningKey | None = None
    cache: dict[tuple[str, str | None], tuple[str, float]] = field(default_factory=dict)
    codes: dict[str, _Grant] = field(default_factory=dict)
    #: every token minted in this run: the report-scanning test proves none of them reaches a report
    issued: list[str] = field(default_factory=list)


@simulator
class PscSimulator(TokenIssuer):
    """A loopback Pro Santé Connect for the DUI under test, and the engine's source of tokens."""

    name = "psc"
    token_variants = frozenset(VARIANTS)

    def __init__(self) -> None:
        super().__init__()
        self.personas = load_personas()
        self.client_id = CLIENT_ID
        self._server: LoopbackServer | None = None
        self._lock = threading.Lock()
        self._state = _State()
        key = _POOL.get(_CURRENT)
        self._state.signing, self._state.published = key, [key]

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        """Discovery, JWKS, authorization, token and userinfo endpoints, as an ASGI app."""
        return Starlette(routes=[
            Route(f"{REALM}/.well-known/openid-configuration", self._discovery, methods=["GET"]),
            Route(f"{REALM}/.well-known/wallet-openid-configuration", self._discovery, methods=["GET"]),
            Route(f"{OIDC}/certs", self._jwks, methods=["GET"]),
            Route(f"{OIDC}/auth", self._authorize, methods=["GET"]),
            Route(f"{OIDC}/token", self._token, methods=["POST"]),
            Route(f"{OIDC}/userinfo", self._userinfo, methods=["GET", "POST"]),
        ])

    async def start(self) -> None:
        """Serve on a loopback port."""
        self._server = LoopbackServer(self.app(), port=self.port).start()

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    @property
    def base(self) -> str:
        """The server's root URL (a placeholder before ``start``, so tokens can be minted in unit tests)."""
        return self._server.url if self._server else "http://127.0.0.1:0"

    @property
    def issuer(self) -> str:
        """The ``iss`` of every valid token."""
        return self.base + REALM

    def endpoints(self) -> dict[str, str]:
        """Where a DUI finds the issuer: discovery, JWKS, token and userinfo, and its client id (the audience)."""
        if self._server is None:
            return {}
        return {
            "issuer": self.issuer,
            "discovery": f"{self.issuer}/.well-known/openid-configuration",
            "jwks": f"{self.base}{OIDC}/certs",
            "authorization": f"{self.base}{OIDC}/auth",
            "token": f"{self.base}{OIDC}/token",
            "userinfo": f"{self.base}{OIDC}/userinfo",
            "client_id": self.client_id,
        }

    # -- keys ----------------------------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        """The published keys."""
        with self._lock:
            return {"keys": [dict(k.jwk) for k in self._state.published]}

    def _announce_standby(self) -> SigningKey:
        """The next key, published from now on (a DUI must refetch the JWKS to know it)."""
        with self._lock:
            state = self._state
            if state.standby is None:
                state.standby = _POOL.get(_NEXT) if state.signing is _POOL.get(_CURRENT) else SigningKey.generate()
            if state.standby not in state.published:
                state.published.append(state.standby)
            return state.standby

    def rotate(self) -> str:
        """Sign with the announced next key from now on; the previous key stays published. Returns the new kid."""
        standby = self._announce_standby()
        with self._lock:
            self._state.signing, self._state.standby = standby, None
            self._state.cache.clear()
        return standby.kid

    # -- tokens --------------------------------------------------------------------------------------------------

    def claims_for(self, persona: str) -> dict[str, Any]:
        """The persona's PSC claims (userinfo), a copy."""
        if persona not in self.personas:
            known = ", ".join(sorted(self.personas))
            raise ValueError(f"persona « {persona} » sans identité Pro Santé Connect (personas PSC : {known})")
        return copy.deepcopy(self.personas[persona])

    def token_for(self, persona: str, variant: str | None = None) -> str:
        """An access token for ``persona``: valid, or the named variant (see ``VARIANTS``); cached per pair."""
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"variante de jeton inconnue « {variant} » (connues : {', '.join(sorted(VARIANTS))})")
        now = time.time()
        with self._lock:
            cached = self._state.cache.get((persona, variant))
            if cached is not None and cached[1] - now > REFRESH_MARGIN:
                return cached[0]
        token = self._mint(persona, variant, now)
        with self._lock:
            self._state.cache[persona, variant] = (token, now + TOKEN_LIFETIME)
            self._state.issued.append(token)
        return token

    @property
    def issued(self) -> list[str]:
        """Every token minted so far (for tests that prove no token reaches a report)."""
        with self._lock:
            return list(self._state.issued)

    def private_keys_pem(self) -> list[bytes]:
        """The private keys in use, as PKCS#8 PEM (for tests that prove no private key reaches a report)."""
        with self._lock:
            keys = {k.kid: k for k in (*self._state.published, _POOL.get(_ATTACKER))}
        return [k.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()) for k in keys.values()]

    def _payload(self, persona: str, now: float, nonce: str | None = None) -> dict[str, Any]:
        claims = self.claims_for(persona)
        issued = int(now)
        payload = {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id, "typ": "Bearer",
            "exp": issued + TOKEN_LIFETIME, "iat": issued, "nbf": issued, "auth_time": issued,
            "jti": str(uuid.uuid4()), "acr": ACR, "scope": SCOPE, **claims,
        }
        if nonce is not None:
            payload["nonce"] = nonce
        return payload

    def _sign(self, payload: Mapping[str, Any], key: SigningKey, **header: Any) -> str:
        return jwt.encode(dict(payload), key.private, algorithm=ALGORITHM, headers={"kid": key.kid, **header})

    def _mint(self, persona: str, variant: str | None, now: float) -> str:
        payload = self._payload(persona, now)
        with self._lock:
            signing = self._state.signing
        assert signing is not None
        if variant is None:
            return self._sign(payload, signing)
        if variant == "rotated-key":
            return self._sign(payload, self._announce_standby())
        if variant == "expired":
            payload.update(iat=int(now) - 2 * TOKEN_LIFETIME, nbf=int(now) - 2 * TOKEN_LIFETIME,
                           auth_time=int(now) - 2 * TOKEN_LIFETIME, exp=int(now) - TOKEN_LIFETIME)
        elif variant == "not-yet-valid":
            later = int(now) + 24 * 3600
            payload.update(iat=later, nbf=later, auth_time=later, exp=later + TOKEN_LIFETIME)
        elif variant == "wrong-issuer":
            payload["iss"] = FOREIGN_ISSUER
        elif variant == "wrong-audience":
            payload["aud"] = payload["azp"] = FOREIGN_AUDIENCE
        elif variant == "wrong-acr":
            payload["acr"] = WEAK_ACR
        elif variant == "malformed":
            # A real header, then a payload that is not base64url JSON: a parser must refuse it, not crash.
            header = _b64(json.dumps({"alg": ALGORITHM, "typ": "JWT", "kid": signing.kid}).encode())
            return f"{header}.{{non-base64:{secrets.token_hex(8)}}}.{secrets.token_hex(16)}"
        elif variant == "alg-none":
            return _unsigned({"alg": "none", "typ": "JWT", "kid": signing.kid}, payload)
        elif variant == "hs256-public-key":
            # Algorithm confusion: HMAC keyed with the public key a verifier would load for the kid.
            head = _unsigned({"alg": "HS256", "typ": "JWT", "kid": signing.kid}, payload)[:-1]
            mac = hmac.new(signing.public_pem(), head.encode("ascii"), hashlib.sha256).digest()
            return f"{head}.{_b64(mac)}"
        elif variant == "bad-signature":
            # A genuine token whose payload was then raised to the médecin's profession and a longer life.
            genuine = self._sign(payload, signing)
            forged = dict(payload, exp=payload["exp"] + 24 * 3600)
            for exercice in forged.get("SubjectRefPro", {}).get("exercices", []):
                exercice["codeProfession"] = "10"
            head, _, signature = genuine.split(".")
            return f"{head}.{_b64(json.dumps(forged, ensure_ascii=False).encode())}.{signature}"
        elif variant == "unknown-kid":
            # Signed with a key the JWKS never published, offered in the header (``jwk``) for a naive verifier.
            attacker = _POOL.get(_ATTACKER)
            return self._sign(payload, attacker, jwk=attacker.jwk)
        return self._sign(payload, signing)

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this simulator issued and still honours (for userinfo and other simulators)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        with self._lock:
            key = next((k for k in self._state.published if k.kid == kid), None)
        if key is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(token, key.private.public_key(), algorithms=[ALGORITHM],
                                                audience=self.client_id, issuer=self.issuer, leeway=30)
        except jwt.PyJWTError:
            return None
        return claims if claims.get("acr") == ACR else None

    # -- endpoints -----------------------------------------------------------------------------------------------

    def _record(self, operation: str, **summary: Any) -> None:
        # The payload is the summary itself: never a token, a code verifier or a code.
        item = {"operation": operation, **summary}
        self.inbox.put(Received(item, json.dumps(item, ensure_ascii=False).encode(), "application/json", item))

    async def _discovery(self, request: Request) -> Response:
        endpoints = self.endpoints()
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": endpoints["authorization"],
            "token_endpoint": endpoints["token"],
            "userinfo_endpoint": endpoints["userinfo"],
            "jwks_uri": endpoints["jwks"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": [ACR],
            "scopes_supported": ["openid", "scope_all"],
            "claims_supported": ["sub", "acr", "preferred_username", "given_name", "family_name", "SubjectNameID",
                                 "SubjectRefPro"],
        })

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self.jwks(), headers={"Cache-Control": "no-store"})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        persona = q.get("login_hint", "")
        summary = {"persona": persona, "client_id": q.get("client_id"), "acr_values": q.get("acr_values"),
                   "scope": q.get("scope"), "code_challenge_method": q.get("code_challenge_method"),
                   "redirect_uri": q.get("redirect_uri")}
        self._record("authorization", **summary)
        problem = None
        if q.get("response_type") != "code":
            problem = "response_type doit valoir code"
        elif q.get("client_id") != self.client_id:
            problem = f"client_id inconnu (attendu : {self.client_id})"
        elif not q.get("redirect_uri"):
            problem = "redirect_uri absent"
        elif q.get("acr_values") != ACR:
            problem = f"acr_values doit valoir {ACR}"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            problem = "PKCE S256 obligatoire (code_challenge, code_challenge_method=S256)"
        elif persona not in self.personas:
            problem = "login_hint doit nommer un persona du simulateur"
        if problem is not None:
            return JSONResponse({"error": "invalid_request", "error_description": problem}, 400)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._state.codes[code] = _Grant(persona, q["client_id"], q["redirect_uri"], q["code_challenge"],
                                             q.get("nonce"), time.time() + CODE_LIFETIME)
        query = {"code": code, **({"state": q["state"]} if q.get("state") else {})}
        separator = "&" if "?" in q["redirect_uri"] else "?"
        return RedirectResponse(f"{q['redirect_uri']}{separator}{urlencode(query)}", 302)

    async def _token(self, request: Request) -> Response:
        # A small urlencoded form: parsed here rather than pulling in a multipart parser for it.
        raw = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", errors="replace")
        fields = {k: v[0] for k, v in parse_qs(raw).items()}
        with self._lock:
            grant = self._state.codes.pop(fields.get("code", ""), None)
        problem = _grant_problem(grant, fields)
        self._record("token", grant_type=fields.get("grant_type"), accepted=problem is None,
                     persona=grant.persona if grant else None, reason=problem)
        if problem is not None or grant is None:
            return JSONResponse({"error": "invalid_grant", "error_description": problem}, 400)
        access = self.token_for(grant.persona)
        now = time.time()
        id_token = self._sign(self._payload(grant.persona, now, nonce=grant.nonce), self._signing())
        with self._lock:
            self._state.issued.append(id_token)
        return JSONResponse({"access_token": access, "id_token": id_token, "token_type": "Bearer",
                             "expires_in": TOKEN_LIFETIME, "scope": SCOPE},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _signing(self) -> SigningKey:
        with self._lock:
            assert self._state.signing is not None
            return self._state.signing

    async def _userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        claims = self.verify(token) if token else None
        self._record("userinfo", accepted=claims is not None,
                     persona=next((n for n, p in self.personas.items()
                                   if claims and p.get("sub") == claims.get("sub")), None))
        if claims is None:
            return JSONResponse({"error": "invalid_token"}, 401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        persona = next((p for p in self.personas.values() if p.get("sub") == claims.get("sub")), {})
        return JSONResponse({"sub": claims["sub"], **copy.deepcopy(persona)})


def _grant_problem(grant: _Grant | None, fields: Mapping[str, str]) -> str | None:
    """Why an authorization-code exchange is refused, or None."""
    if fields.get("grant_type") != "authorization_code":
        return "grant_type doit valoir authorization_code"
    if grant is None:
        return "code inconnu, déjà utilisé ou expiré"
    if grant.expires < time.time():
        return "code expiré"
    if fields.get("client_id", grant.client_id) != grant.client_id or fields.get("redirect_uri") != grant.redirect_uri:
        return "client_id ou redirect_uri différent de la demande d'autorisation"
    verifier = fields.get("code_verifier", "")
    if not verifier or _b64(hashlib.sha256(verifier.encode("ascii", "replace")).digest()) != grant.challenge:
        return "code_verifier ne correspond pas au code_challenge (PKCE S256)"
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """``header.payload.`` with an empty signature."""
    encoded = [_b64(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode()) for part in (header, payload)]
    return f"{encoded[0]}.{encoded[1]}."
