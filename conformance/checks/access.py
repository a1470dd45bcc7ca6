"""Access-rules checks: Pro Santé Connect tokens, habilitations, isolation between establishments, break-glass.

Each finding says which persona did what, the status expected and the status received, and what leaked. A check
never quotes a token: it says that one was echoed, not what it was.
Sources: shared/reference/messaging-access-referencing.md §2.1 and §2.2; fixtures/habilitations.yaml.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from conformance.checks import CheckContext, check
from conformance.core.findings import CheckSkipped, Finding

#: what a refusal looks like; 404 hides the very existence of the resource, which is allowed
REFUSED = frozenset({401, 403, 404})
DENIED = frozenset({403, 404})
TOKEN_LABELS = {
    "missing": "une requête sans jeton",
    "malformed": "un jeton mal formé",
    "expired": "un jeton expiré",
    "not-yet-valid": "un jeton pas encore valide (nbf, iat dans le futur)",
    "wrong-issuer": "un jeton d'un autre émetteur",
    "wrong-audience": "un jeton délivré à un autre logiciel",
    "alg-none": "un jeton non signé (alg none)",
    "hs256-public-key": "un jeton signé en HS256 avec la clé publique de l'émetteur",
    "bad-signature": "un jeton modifié après sa signature",
    "unknown-kid": "un jeton signé par une clé que l'émetteur ne publie pas",
    "wrong-acr": "un jeton sans authentification eidas1",
}
ACTIONS = {"lecture": "lire", "ecriture": "écrire"}
#: headers that describe the refused resource: a refusal must not carry them
RESOURCE_HEADERS = ("etag", "last-modified", "content-location", "location")
_TRAITS = ("birth_name", "first_given_name", "given_names", "birth_date", "used_name", "used_given_name")
_MIN_LEAK = 4


def persona_label(ctx: CheckContext, persona: str) -> str:
    """``medecin (Dr Claire BERNARD-TEST)``: the persona key and who it is."""
    personas = ctx.variables.get("personas")
    entry = personas.get(persona) if isinstance(personas, Mapping) else None
    description = str(entry.get("description", "")) if isinstance(entry, Mapping) else ""
    who = description.split(",")[0].strip()
    return f"{persona} ({who})" if who else persona


def category_label(ctx: CheckContext, category: str) -> str:
    """The category's French label from the habilitation matrix."""
    hab = ctx.variables.get("habilitations")
    categories = hab.get("categories") if isinstance(hab, Mapping) else None
    entry = categories.get(category) if isinstance(categories, Mapping) else None
    return str(entry.get("libelle", category)) if isinstance(entry, Mapping) else category


def _served(ctx: CheckContext) -> str:
    """What a successful answer served, shortly, for the message."""
    try:
        body = ctx.json()
    except Exception:
        return "un corps non JSON"
    if not isinstance(body, dict):
        return "des données"
    kind = body.get("resourceType", "des données")
    if kind == "Bundle":
        return f"un Bundle de {len(body.get('entry') or [])} ressource(s)"
    text = body.get("description") if isinstance(body.get("description"), str) else None
    return f"{kind}/{body.get('id', '?')}" + (f" « {text[:60]} »" if text else "")


@check
def denied_without_token(ctx: CheckContext, *, token: str = "missing") -> Iterator[Finding]:
    """Sans jeton valide (absent, mal formé, expiré, mal signé…), le DUI répond 401 et ne sert aucune donnée."""
    status = ctx.response.status
    if status == 401:
        return
    label = TOKEN_LABELS.get(token, f"un jeton « {token} »")
    if 200 <= status < 300:
        yield Finding(rule="jeton-accepte", location="statut HTTP", expected=401, actual=status,
                      message=f"Le DUI a accepté {label} : statut {status} au lieu de 401, {_served(ctx)} servi")
    else:
        yield Finding(rule="statut-refus", location="statut HTTP", expected=401, actual=status,
                      message=f"Le DUI a répondu {status} à {label} au lieu de 401 (authentification refusée)")


@check
def access_granted(ctx: CheckContext, *, persona: str, what: str) -> Iterator[Finding]:
    """Un accès que les règles autorisent aboutit (2xx) : sans cela, un refus ne prouverait rien."""
    status = ctx.response.status
    if not 200 <= status < 300:
        yield Finding(rule="acces-refuse-a-tort", location="statut HTTP", expected="2xx", actual=status,
                      message=f"Le persona {persona_label(ctx, persona)} devait pouvoir {what} : le DUI a répondu "
                              f"{status}")


@check
def habilitation_respected(ctx: CheckContext, *, persona: str, category: str, action: str, decision: str,
                           resource: str = "DocumentReference") -> Iterator[Finding]:
    """La matrice d'habilitations est appliquée : la cellule autorisée aboutit (2xx), la cellule refusée donne 403."""
    if decision not in ("autorise", "refuse") or action not in ACTIONS:
        raise ValueError(f"décision « {decision} » ou action « {action} » inconnue (autorise/refuse, lecture/ecriture)")
    status = ctx.response.status
    who, verb, what = persona_label(ctx, persona), ACTIONS[action], category_label(ctx, category)
    if decision == "autorise":
        if not 200 <= status < 300:
            yield Finding(rule="habilitation-refusee-a-tort", location="statut HTTP",
                          expected="2xx (autorisé par la matrice)", actual=status,
                          message=f"Le persona {who} peut {verb} les {what} selon la matrice d'habilitations ; "
                                  f"le DUI a répondu {status}")
        elif action == "lecture":
            yield from _served_category(ctx, who, category, what, resource)
        return
    if 200 <= status < 300:
        served = f", {_served(ctx)} servi" if action == "lecture" else ", écriture acceptée"
        yield Finding(rule="habilitation-ignoree", location="statut HTTP", expected="403 (refusé par la matrice)",
                      actual=status,
                      message=f"Le persona {who} ne peut pas {verb} les {what} selon la matrice d'habilitations ; "
                              f"le DUI a répondu {status}{served}")
    elif status not in DENIED:
        yield Finding(rule="statut-refus", location="statut HTTP", expected=403, actual=status,
                      message=f"Refus de {verb} les {what} au persona {who} : statut {status} au lieu de 403")


def _served_category(ctx: CheckContext, who: str, category: str, what: str, resource: str) -> Iterator[Finding]:
    """An allowed read served the resource asked for, of the category asked for."""
    body = ctx.json()
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if kind != resource:
        yield Finding(rule="ressource-servie", location="$.resourceType", expected=resource, actual=kind,
                      message=f"Le persona {who} a lu une ressource {kind or 'absente'} au lieu de {resource}")
        return
    if resource != "DocumentReference":
        return
    codes = [c.get("code") for cat in (body.get("category") or []) if isinstance(cat, dict)
             for c in cat.get("coding") or [] if isinstance(c, dict)]
    if category not in codes:
        yield Finding(rule="categorie-servie", location="$.category", expected=category, actual=codes or None,
                      message=f"Le persona {who} a lu une ressource qui n'est pas de la catégorie {what}")


@check
def notes_stored_as_decided(ctx: CheckContext, *, persona: str, category: str, decision: str,
                            text: str) -> Iterator[Finding]:
    """Une écriture refusée n'a rien enregistré ; une écriture autorisée a enregistré exactement une note."""
    body = ctx.json()
    notes = body.get("notes") if isinstance(body, dict) else None
    if not isinstance(notes, list):
        yield Finding(rule="liste-notes", location="$.notes", expected="liste des notes", actual=type(notes).__name__,
                      message="L'interface de pilotage ne liste pas les notes de l'usager")
        return
    found = [n for n in notes if isinstance(n, dict) and n.get("text") == text]
    expected = 1 if decision == "autorise" else 0
    if len(found) != expected:
        who, what = persona_label(ctx, persona), category_label(ctx, category)
        fate = ("aurait dû être enregistrée une fois" if expected else
                "a été refusée mais la note est enregistrée malgré tout")
        yield Finding(rule="ecriture-enregistree" if not expected else "ecriture-perdue", location="$.notes",
                      expected=expected, actual=len(found),
                      message=f"L'écriture de {who} dans les {what} {fate} ({len(found)} note(s) trouvée(s))")


def _leak_values(usager: Mapping[str, Any] | None, values: list[str] | None) -> list[str]:
    found = [str(usager[k]) for k in _TRAITS if isinstance(usager, Mapping) and usager.get(k)]
    found += [str(v) for v in values or () if v]
    return [v for v in dict.fromkeys(found) if len(v) >= _MIN_LEAK]


def _texts(body: bytes) -> str:
    """The body as text, plus its JSON strings unescaped (a value may hide behind unicode escapes)."""
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(parsed)
    return text + "\n" + "\n".join(strings)


@check
def refusal_leaks_nothing(ctx: CheckContext, *, usager: dict[str, Any] | None = None,
                          values: list[str] | None = None) -> Iterator[Finding]:
    """Un refus (401, 403, 404) ne divulgue ni données de l'usager, ni le jeton présenté, ni la ressource refusée."""
    response = ctx.response
    if response.status not in REFUSED:
        return  # not a refusal: whether access should have been refused is another check's finding
    body = _texts(response.body)
    for value in _leak_values(usager, values):
        encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
        if value.lower() in body.lower() or (len(value) >= 8 and encoded in body):
            yield Finding(rule="donnee-divulguee", location="corps de la réponse", expected="aucune donnée de l'usager",
                          actual=value, message=f"Le refus {response.status} divulgue « {value} » dans son corps")
        for name, header in response.headers:
            if value.lower() in header.lower():
                yield Finding(rule="donnee-divulguee", location=f"en-tête {name}", expected="aucune donnée",
                              actual=value, message=f"Le refus {response.status} divulgue « {value} » dans "
                                                    f"l'en-tête {name}")
    token = _presented_token(ctx)
    if token and (token in body or any(token in v for _, v in response.headers)):
        yield Finding(rule="jeton-renvoye", location="corps de la réponse", expected="jeton jamais recopié",
                      actual="[jeton masqué]",
                      message=f"Le refus {response.status} recopie le jeton d'accès présenté (valeur masquée)")
    for name in RESOURCE_HEADERS:
        if response.header(name):
            yield Finding(rule="en-tete-ressource", location=f"en-tête {name}", expected="absent sur un refus",
                          actual=name, message=f"Le refus {response.status} porte l'en-tête {name} de la ressource "
                                               "refusée (il en révèle l'existence ou la version)")


def _presented_token(ctx: CheckContext) -> str | None:
    if ctx.exchange is None:
        return None
    for name, value in ctx.exchange.request.headers:
        if name.lower() == "authorization" and value[:7].lower() == "bearer ":
            token = value[7:].strip()
            return token if len(token) >= 16 else None
    return None


@check
def other_establishment_refused(ctx: CheckContext, *, persona: str, what: str) -> Iterator[Finding]:
    """Un professionnel d'un autre établissement n'atteint pas l'usager par son identifiant : 403 ou 404."""
    status = ctx.response.status
    if 200 <= status < 300:
        yield Finding(rule="acces-autre-etablissement", location="statut HTTP", expected="403 ou 404", actual=status,
                      message=f"Le persona {persona_label(ctx, persona)}, d'un autre établissement, a obtenu {what} "
                              f"en donnant son identifiant dans l'URL (statut {status}, {_served(ctx)})")
    elif status not in DENIED:
        yield Finding(rule="statut-refus", location="statut HTTP", expected="403 ou 404", actual=status,
                      message=f"Accès de {persona_label(ctx, persona)} à {what} : statut {status} au lieu de 403/404")


def _references(value: Any) -> set[str]:
    """Every ``reference`` inside a resource."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.add(item)
            else:
                found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


@check
def search_excludes_usager(ctx: CheckContext, *, persona: str, usager_id: str,
                           values: list[str] | None = None) -> Iterator[Finding]:
    """Une recherche ne renvoie rien d'un usager d'un autre établissement (refus, ou Bundle sans ses données)."""
    status = ctx.response.status
    if status in DENIED:
        return
    if not 200 <= status < 300:
        yield Finding(rule="statut-recherche", location="statut HTTP", expected="200, 403 ou 404", actual=status,
                      message=f"Recherche de {persona_label(ctx, persona)} : statut {status}")
        return
    body = ctx.json()
    entries = body.get("entry") if isinstance(body, dict) else None
    target = f"Patient/{usager_id}"
    leaked = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        refs = {r.split("/_history")[0] for r in _references(resource)}
        text = json.dumps(resource, ensure_ascii=False)
        if any(r == target or r.endswith("/" + target) for r in refs) or (
                resource.get("resourceType") == "Patient" and resource.get("id") == usager_id) or any(
                v in text for v in values or () if len(v) >= _MIN_LEAK):
            leaked.append(f"entry[{index}] {resource.get('resourceType')}/{resource.get('id')}")
    if leaked:
        yield Finding(rule="recherche-autre-etablissement", location="$.entry", expected="aucune ressource de l'usager",
                      actual=leaked,
                      message=f"La recherche du persona {persona_label(ctx, persona)} renvoie {len(leaked)} "
                              f"ressource(s) d'un usager d'un autre établissement : {', '.join(leaked[:5])}")


@check
def search_finds(ctx: CheckContext, *, persona: str, resource: str) -> Iterator[Finding]:
    """Une recherche d'un professionnel habilité trouve la ressource attendue (témoin des recherches refusées)."""
    status = ctx.response.status
    body = ctx.json() if 200 <= status < 300 else None
    entries = body.get("entry") if isinstance(body, dict) else None
    found = {f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}" for e in entries or []
             if isinstance(e, dict) and isinstance(e.get("resource"), dict)}
    if resource not in found:
        yield Finding(rule="recherche-incomplete", location="$.entry", expected=resource,
                      actual=sorted(found) if body is not None else status,
                      message=f"La recherche du persona {persona_label(ctx, persona)} ne trouve pas {resource}")


@check
def break_glass_granted(ctx: CheckContext, *, persona: str) -> Iterator[Finding]:
    """Un profil habilité au bris de glace obtient l'accès d'urgence, là où le DUI propose ce mode."""
    status = ctx.response.status
    if status in DENIED:
        raise CheckSkipped(f"le DUI ne propose pas le bris de glace (accès d'urgence refusé à "
                           f"{persona_label(ctx, persona)}, statut {status})")
    if not 200 <= status < 300:
        yield Finding(rule="bris-de-glace", location="statut HTTP", expected="2xx ou refus 403", actual=status,
                      message=f"Accès en bris de glace de {persona_label(ctx, persona)} : statut {status}")


@check
def break_glass_refused(ctx: CheckContext, *, persona: str) -> Iterator[Finding]:
    """Le bris de glace n'est pas accordé aux profils qui n'y ont pas droit."""
    status = ctx.response.status
    if 200 <= status < 300:
        yield Finding(rule="bris-de-glace-non-habilite", location="statut HTTP", expected="403 ou 404", actual=status,
                      message=f"Le persona {persona_label(ctx, persona)}, non habilité au bris de glace, a obtenu "
                              f"l'accès d'urgence à un usager d'un autre établissement ({_served(ctx)})")
    elif status not in DENIED:
        yield Finding(rule="statut-refus", location="statut HTTP", expected="403 ou 404", actual=status,
                      message=f"Bris de glace demandé par {persona_label(ctx, persona)} : statut {status}")
