"""The Pro Santé Connect simulator: discovery, JWKS, the authorization-code flow, userinfo, and its bad tokens."""

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from conformance.simulators.psc import CLIENT_ID, FOREIGN_ISSUER, VARIANTS, PscSimulator
from tests.support.simulators import started


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture(scope="module")
def served():
    """A started simulator and its JWKS, read over HTTP as a DUI would."""
    yield from started(PscSimulator())


def get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, trust_env=False, **kwargs)


def verify(sim: PscSimulator, token: str) -> dict:
    """Verification the way a correct DUI does it: the JWKS, RS256 only, issuer, audience."""
    keys = {k["kid"]: jwt.PyJWK(k).key for k in get(sim.endpoints()["jwks"]).json()["keys"]}
    key = keys.get(jwt.get_unverified_header(token).get("kid"))
    if key is None:
        raise jwt.InvalidKeyError("kid absent du JWKS")
    return jwt.decode(token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=sim.issuer)


def test_discovery_names_every_endpoint_and_the_psc_requirements(served):
    endpoints = served.endpoints()
    assert {"issuer", "jwks", "token", "userinfo", "authorization", "discovery", "client_id"} <= set(endpoints)
    for path in ("openid-configuration", "wallet-openid-configuration"):
        doc = get(f"{served.issuer}/.well-known/{path}").json()
        assert doc["issuer"] == served.issuer and doc["jwks_uri"] == endpoints["jwks"]
        assert doc["acr_values_supported"] == ["eidas1"] and doc["code_challenge_methods_supported"] == ["S256"]
    jwks = get(endpoints["jwks"]).json()
    assert [k["kty"] for k in jwks["keys"]] == ["RSA"] and all("d" not in k for k in jwks["keys"])


def test_a_valid_token_carries_the_psc_claims(served):
    claims = verify(served, served.token_for("medecin"))
    assert claims["acr"] == "eidas1" and claims["SubjectNameID"] == "810001234567"
    assert claims["sub"].endswith(":810001234567") and claims["preferred_username"] == claims["SubjectNameID"]
    exercice = claims["SubjectRefPro"]["exercices"][0]
    assert exercice["codeProfession"] == "10"
    assert exercice["activities"][0]["numeroFinessSite"] == "990000010"
    assert claims["exp"] - claims["iat"] == 3600 and claims["aud"] == CLIENT_ID


def test_tokens_are_cached_per_persona_and_variant(served):
    assert served.token_for("infirmier") == served.token_for("infirmier")
    assert served.token_for("infirmier") != served.token_for("medecin")
    assert served.token_for("infirmier", "expired") == served.token_for("infirmier", "expired")


def test_a_persona_without_psc_identity_is_refused(served):
    with pytest.raises(ValueError, match="sans identité Pro Santé Connect"):
        served.token_for("compte-technique")
    with pytest.raises(ValueError, match="variante de jeton inconnue"):
        served.token_for("medecin", "forged")


@pytest.mark.parametrize("variant", sorted(set(VARIANTS) - {"rotated-key"}))
def test_every_bad_variant_fails_a_correct_verification(served, variant):
    with pytest.raises(jwt.PyJWTError):
        token = served.token_for("secretaire", variant)
        claims = verify(served, token)
        if claims.get("acr") != "eidas1":
            raise jwt.InvalidTokenError("acr")


def test_bad_variants_are_what_they_claim(served):
    now = time.time()
    assert segment(served.token_for("secretaire", "expired"), 1)["exp"] < now
    assert segment(served.token_for("secretaire", "not-yet-valid"), 1)["nbf"] > now + 3600
    assert segment(served.token_for("secretaire", "wrong-issuer"), 1)["iss"] == FOREIGN_ISSUER
    assert segment(served.token_for("secretaire", "wrong-audience"), 1)["aud"] != CLIENT_ID
    assert segment(served.token_for("secretaire", "wrong-acr"), 1)["acr"] != "eidas1"
    none = served.token_for("secretaire", "alg-none")
    assert segment(none, 0)["alg"] == "none" and none.endswith(".")
    assert segment(served.token_for("secretaire", "hs256-public-key"), 0)["alg"] == "HS256"
    forged = served.token_for("secretaire", "bad-signature")
    assert segment(forged, 1)["SubjectRefPro"]["exercices"][0]["codeProfession"] == "10"
    unknown = served.token_for("secretaire", "unknown-kid")
    header = segment(unknown, 0)
    published = {k["kid"] for k in served.jwks()["keys"]}
    assert header["kid"] not in published and header["jwk"]["kid"] == header["kid"]
    malformed = served.token_for("secretaire", "malformed")
    assert segment(malformed, 0)["alg"] == "RS256"
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header(malformed)


def test_hs256_variant_is_keyed_with_the_public_key(served):
    import hmac

    token = served.token_for("secretaire", "hs256-public-key")
    head, _, signature = token.rpartition(".")
    pem = served._state.signing.public_pem()
    assert b64url(hmac.new(pem, head.encode(), hashlib.sha256).digest()) == signature


def test_a_rotated_key_is_published_when_first_used_and_rotation_keeps_the_old_one():
    sim = PscSimulator()
    before = {k["kid"] for k in sim.jwks()["keys"]}
    token = sim.token_for("medecin", "rotated-key")
    after = {k["kid"] for k in sim.jwks()["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid not in before and after == before | {kid}
    assert jwt.get_unverified_header(sim.token_for("medecin"))["kid"] in before  # normal tokens keep the old key
    new_kid = sim.rotate()
    assert new_kid == kid and jwt.get_unverified_header(sim.token_for("medecin"))["kid"] == kid
    assert {k["kid"] for k in sim.jwks()["keys"]} == after
    assert sim.verify(token) is not None


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def authorize(sim: PscSimulator, persona: str, challenge: str, **extra) -> httpx.Response:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": "http://dui.test/retour",
              "scope": "openid scope_all", "acr_values": "eidas1", "state": "etat-1", "nonce": "n-1",
              "code_challenge": challenge, "code_challenge_method": "S256", "login_hint": persona, **extra}
    return get(sim.endpoints()["authorization"], params=params)


def test_authorization_code_flow_with_pkce_then_userinfo(served):
    verifier, challenge = pkce()
    answer = authorize(served, "psychologue", challenge)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["etat-1"]
    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": "http://dui.test/retour",
            "client_id": CLIENT_ID, "code_verifier": verifier}
    tokens = httpx.post(served.endpoints()["token"], data=form, trust_env=False).json()
    assert tokens["token_type"] == "Bearer"
    assert verify(served, tokens["access_token"])["SubjectNameID"] == "899700100052"
    assert verify(served, tokens["id_token"])["nonce"] == "n-1"
    again = httpx.post(served.endpoints()["token"], data=form, trust_env=False)
    assert again.status_code == 400 and "déjà utilisé" in again.json()["error_description"]
    info = get(served.endpoints()["userinfo"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["SubjectRefPro"]["exercices"][0]["codeProfession"] == "93"
    refused = get(served.endpoints()["userinfo"],
                  headers={"Authorization": f"Bearer {served.token_for('psychologue', 'bad-signature')}"})
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]
    recorded = json.dumps([i.summary for i in served.inbox.items])
    assert tokens["access_token"] not in recorded and verifier not in recorded and query["code"][0] not in recorded


@pytest.mark.parametrize(("change", "message"), [
    ({"acr_values": "eidas2"}, "acr_values"), ({"code_challenge_method": "plain"}, "PKCE"),
    ({"login_hint": "inconnu"}, "login_hint"), ({"client_id": "autre"}, "client_id"),
])
def test_authorization_requests_psc_would_refuse(served, change, message):
    answer = authorize(served, "medecin", pkce()[1], **change)
    assert answer.status_code == 400 and message in answer.json()["error_description"]


def test_a_wrong_verifier_gets_no_token(served):
    _, challenge = pkce()
    code = parse_qs(urlsplit(authorize(served, "medecin", challenge).headers["location"]).query)["code"][0]
    answer = httpx.post(served.endpoints()["token"], trust_env=False, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://dui.test/retour",
        "code_verifier": "pas-le-bon"})
    assert answer.status_code == 400 and "PKCE" in answer.json()["error_description"]
