"""Every hostile fault of the reference DUI, played by the CLI in its own process, as a vendor would meet it.

For each: the run completes with a report; the requirements hit get the fault's verdict and a French sentence saying
what happened; no traceback; the canary file the XXE points at is never opened; the other host the redirect and the
external DTD point at is never contacted, and the run's process connects to loopback only; no file is written
outside the archive; peak memory stays under a ceiling.
"""

import ast
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.core.outcomes import Verdict
from conformance.reference import FAULTS
from conformance.reference.faults import EVERY_REQUIREMENT
from conformance.reference.hostile import HOSTILE, evasion_paths
from tests.support.watch import FileWatch, Sentinel

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="inotify and /proc are Linux's")]

#: what each requirement hit must say, in the words of its finding or error
SAYS = {
    "metadata-hangs": "délai de réponse dépassé",
    "metadata-trickles": "délai total de 4 s dépassé",
    "metadata-connection-reset": "connexion coupée",
    "metadata-100-mb": "dépasse la limite de 20 Mio",
    "metadata-endless-body": "dépasse la limite de 20 Mio",
    "metadata-gzip-bomb": "dépasse une fois décompressé (gzip) la limite",
    "metadata-deep-json": "imbrication trop profonde",
    "metadata-invalid-utf8": "octets non UTF-8",
    "metadata-lying-content-type": "balisage (HTML ou XML) servi sous le type application/fhir+json",
    "metadata-redirect-elsewhere": "redirection vers un autre hôte",
    "metadata-redirect-loop": "redirection sur le DUI lui-même",
    "xml-xxe-local-file": "déclare une DTD",
    "xml-external-dtd": "déclare une DTD",
    "xml-billion-laughs": "bombe d'entités",
    "xml-quadratic-blowup": "bombe d'entités",
    "xml-deep-nesting": "imbrication de plus de 256 niveaux",
    "xdm-zip-bomb": "1073741824 octets décompressés",
    "xdm-path-traversal": "remonte hors de l'archive",
    "mime-10000-parts": "10004 parties MIME, au-delà de la limite de 200",
    "smtp-data-never-ends": "a commencé DATA il y a",
    "tls-certificate-wrong-name": "le certificat présenté n'est pas émis pour 127.0.0.1",
}
#: peak resident memory of a whole run, reference DUI and simulators included: about 110 MiB for a calm run,
#: 200 MiB when a body is cut at the 20 MiB cap
RSS_CEILING_MIB = 300
CONFIG = "[timeouts]\nread = 2.0\ntotal = 4.0\n"
#: the CLI, writing every address its process connects to (audit hook), and at exit the peak resident memory of
#: its own address space (VmHWM: the rusage of a child also counts what this test process held when it forked)
MEASURED = """\
import atexit, re, sys
from pathlib import Path
from conformance.cli import main
connects = open("connects.txt", "w")
def audit(event, args):
    if event == "socket.connect":
        connects.write(repr(args[1]) + "\\n")
        connects.flush()
sys.addaudithook(audit)
def peak():
    status = Path("/proc/self/status").read_text()
    Path("peak-kib.txt").write_text(re.search(r"VmHWM:\\s+(\\d+)", status).group(1))
atexit.register(peak)
sys.argv[0] = "dui-conformance"
main()
"""


def test_every_hostile_kind_is_covered():
    assert set(SAYS) == set(HOSTILE)
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize("fault", HOSTILE)
def test_hostile_fault_is_survived_and_reported(tmp_path, monkeypatch, fault):
    declared = FAULTS[fault]
    themes = sorted({req.split("-")[1] for req in declared.requirements if req != EVERY_REQUIREMENT})
    secret = f"CANARI-{secrets.token_hex(8)}"
    # A name of its own: the path-traversal entries are named after it (and the secret must not be in a name)
    canary = tmp_path / f"canari-{secrets.token_hex(4)}.txt"
    canary.write_text(secret, encoding="utf-8")
    config = tmp_path / "vendor.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with Sentinel() as elsewhere, FileWatch(canary) as watch:
        monkeypatch.setenv("DUI_REFERENCE_CANARY_FILE", str(canary))
        monkeypatch.setenv("DUI_REFERENCE_ELSEWHERE", elsewhere.address)
        env = dict(os.environ)
        command = [sys.executable, "-c", MEASURED, "run", "--fault", fault, "--config", str(config), "--seed",
                   "1", "--no-interactive", "--report-dir", str(tmp_path / "reports"),
                   *(arg for theme in themes for arg in ("--theme", theme))]
        returncode, peak_mib = _run(command, env, tmp_path)
        touched = watch.touched

    stderr = (tmp_path / "stderr.txt").read_text("utf-8", "replace")
    assert "Traceback" not in stderr and "Traceback" not in (tmp_path / "stdout.txt").read_text("utf-8", "replace")
    expected_exit = 1 if declared.verdict is Verdict.NON_CONFORME else 3
    assert returncode == expected_exit, stderr
    [run_dir] = [p for p in (tmp_path / "reports").iterdir() if not p.is_symlink()]
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["complete"]
    expected = declared.requirements if themes else tuple(r["id"] for r in report["requirements"])
    hit = {r["id"]: r for r in report["requirements"] if r["id"] in expected}
    for req in expected:
        assert hit[req]["verdict"] == declared.verdict
        said = [f["message"] for f in hit[req]["findings"]] + hit[req]["errors"]
        assert any(SAYS[fault] in message for message in said), said

    assert not touched, "le fichier canari a été ouvert"
    assert not any(secret.encode() in p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
    assert elsewhere.connections == [], "un autre hôte a été contacté"
    contacted = {ast.literal_eval(line)[0] for line in (tmp_path / "connects.txt").read_text().splitlines()}
    assert contacted == {"127.0.0.1"}, contacted  # the reference and the simulators, nothing else
    climbing, absolute = evasion_paths()
    assert not (tmp_path / climbing).resolve().exists() and not Path(absolute).exists()
    assert peak_mib < RSS_CEILING_MIB


def _run(command: list[str], env: dict[str, str], folder: Path) -> tuple[int, float]:
    """Exit code and peak resident memory (MiB) of the command, run in ``folder``."""
    with (folder / "stdout.txt").open("wb") as out, (folder / "stderr.txt").open("wb") as err:
        returncode = subprocess.run(command, cwd=folder, env=env, stdout=out, stderr=err, timeout=300).returncode
    return returncode, int((folder / "peak-kib.txt").read_text()) / 1024


def test_the_watches_do_see_a_read_and_a_connection(tmp_path):
    canary = tmp_path / "canari.txt"
    canary.write_text("x", encoding="utf-8")
    with FileWatch(canary) as watch:
        assert not watch.touched
        canary.read_text(encoding="utf-8")
        assert watch.touched
    with Sentinel() as elsewhere:
        host, port = elsewhere.address.split(":")
        socket.create_connection((host, int(port)), timeout=2).close()
        deadline = time.monotonic() + 5
        while not elsewhere.connections and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(elsewhere.connections) == 1
