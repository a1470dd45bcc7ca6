"""No report file ever holds a token, a private key or a password.

A whole run is written to disk (every report format, events, evidence) with the vendor's own credentials configured,
then again against a DUI that echoes the tokens it refuses; every file is scanned for every token the Pro Santé
Connect simulator minted, for its private keys (PEM and JWK forms), for the simulators' passwords and for the
vendor's credentials.
"""

import asyncio
import re
from pathlib import Path

import jwt
import pytest

from conformance.engine.events import EventLog
from conformance.reporting import write_reports
from conformance.reporting.model import ReportBuilder
from conformance.session import IN_PROCESS_URL, RunOptions, Session
from conformance.transport.client import TargetSettings

VENDOR_TOKEN = "jeton-du-fournisseur-3f9a1c7e5b"
VENDOR_KEY = "cle-api-du-fournisseur-8d2e4f"
JWT_SHAPE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def write_run(suite, run_dir: Path, **options) -> dict[str, list[bytes]]:
    """Play a run into ``run_dir`` as the CLI does; return the secrets it involved."""
    settings = TargetSettings(base_url=IN_PROCESS_URL, headers={"Authorization": f"Bearer {VENDOR_TOKEN}",
                                                                "X-Cle-Api": VENDOR_KEY},
                              secrets=(VENDOR_TOKEN, VENDOR_KEY))
    session = Session(suite, RunOptions(seed=3, settings=settings, **options), run_dir)
    builder = ReportBuilder()
    run_dir.mkdir(parents=True)
    log = EventLog(run_dir / "events.ndjson")

    async def play():
        runner = await session.open([log, builder])
        psc = runner.ctx.simulators["psc"]
        try:
            await runner.run()
        finally:
            await session.close()
        passwords = [sim.password for sim in runner.ctx.simulators.values()
                     if isinstance(getattr(sim, "password", None), str)]
        return psc, passwords

    psc, passwords = asyncio.run(play())
    log.close()
    write_reports(builder.build(), run_dir, "fr")
    keys = psc.private_keys_pem()
    private = []
    for pem in keys:
        private += [line for line in pem.splitlines() if len(line) >= 40]  # the base64 body of the PEM
        numbers = jwt.algorithms.RSAAlgorithm.to_jwk(
            jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).prepare_key(pem), as_dict=True)
        private += [numbers[k].encode() for k in ("d", "p", "q")]
    tokens = [t.encode() for t in psc.issued]
    return {"jeton": tokens + [t.split(b".")[2] for t in tokens if t.count(b".") == 2 and len(t.split(b".")[2]) > 16],
            "clé privée": [*private, b"PRIVATE KEY"],
            "mot de passe": [p.encode() for p in passwords if len(p) >= 8],
            "identifiant du fournisseur": [VENDOR_TOKEN.encode(), VENDOR_KEY.encode()]}


def scan(run_dir: Path, secrets: dict[str, list[bytes]]) -> list[str]:
    found = []
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"report.json", "report.html", "junit.xml", "rem.csv", "events.ndjson"} <= {p.name for p in files}
    assert any("evidence" in p.parts for p in files)
    for path in files:
        data = path.read_bytes()
        for kind, values in secrets.items():
            found += [f"{kind} dans {path.relative_to(run_dir)}" for v in values if v and v in data]
        if JWT_SHAPE.search(data):
            found.append(f"forme de JWT dans {path.relative_to(run_dir)}")
    return sorted(set(found))


@pytest.mark.slow
def test_a_whole_run_leaves_no_secret_in_its_report_folder(suite, tmp_path):
    secrets = write_run(suite, tmp_path / "run")
    assert len(secrets["jeton"]) > 20 and secrets["mot de passe"], "the run must have used tokens and passwords"
    assert scan(tmp_path / "run", secrets) == []


def test_tokens_echoed_by_a_faulty_dui_stay_out_of_the_reports(suite, tmp_path):
    secrets = write_run(suite, tmp_path / "run", themes=("ACC",), faults=("error-echoes-token",))
    assert scan(tmp_path / "run", secrets) == []
    report = (tmp_path / "run" / "report.json").read_text(encoding="utf-8")
    assert "recopie le jeton d'accès présenté (valeur masquée)" in report
    # The scan itself finds what it looks for: a token planted in a copy of the evidence.
    planted = tmp_path / "run" / "evidence" / "plante.json"
    planted.write_bytes(b'{"body": "' + secrets["jeton"][0] + b'"}')
    assert "jeton dans evidence/plante.json" in scan(tmp_path / "run", secrets)
