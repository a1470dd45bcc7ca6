"""End to end through the CLI: a target that cannot be reached is an ``erreur`` run (exit 3), never a crash."""

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner, Result

from conformance.cli import ExitCode, main
from tests.support.servers import Server, respond, silent, unused_port

pytestmark = pytest.mark.slow

TOKEN = "jeton-du-vendeur-a-ne-jamais-publier"


def run(target: str, report_dir: Path, *extra: str) -> Result:
    # The HTTP theme only: its eight scenarios all start by talking to the target, and the test stays
    # as fast as the number of scenarios, whatever other themes the suite grows.
    args = ["run", "--target", target, "--theme", "HTTP", "--report-dir", str(report_dir), "--no-interactive",
            *extra]
    return CliRunner().invoke(main, args)


def report(report_dir: Path) -> dict[str, Any]:
    (path,) = (report_dir / "latest").glob("report.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def assert_transport_error_run(result: Result, report_dir: Path, *, reason: str) -> list[dict[str, Any]]:
    """Exit 3, no traceback, every requirement in play an ``erreur`` whose reason contains ``reason``."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == ExitCode.HARNESS_ERROR, result.output
    data = report(report_dir)
    assert data["verdict"] == "erreur"
    assert data["run"]["error"] is None  # the harness itself did not fail: the target did
    played = [r for r in data["requirements"] if r["not_selected"] is None]
    assert played
    assert {r["theme"] for r in played} == {"HTTP"}
    for requirement in played:
        assert requirement["verdict"] == "erreur", requirement
        assert reason in requirement["reason"], requirement
    return played


@pytest.fixture
def server() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for each in started:
        each.stop()


def test_closed_port(tmp_path: Path) -> None:
    result = run(f"http://127.0.0.1:{unused_port()}", tmp_path)
    played = assert_transport_error_run(result, tmp_path, reason="connexion impossible")
    assert len(played) == 8


def test_untrusted_tls_certificate(tmp_path: Path, server: list[Server]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    server.append(target := Server(respond(200, [], b"{}"), tls=context).start())
    result = run(target.url, tmp_path)
    assert_transport_error_run(result, tmp_path, reason="TLS")
    assert target.requests == []


def test_server_that_never_answers(tmp_path: Path, server: list[Server]) -> None:
    config = tmp_path / "vendor.toml"
    config.write_text(f'[timeouts]\nconnect = 1\nread = 1\ntotal = 2\n\n[auth]\nbearer_token = "{TOKEN}"\n',
                      encoding="utf-8")
    server.append(target := Server(silent).start())
    result = run(target.url, tmp_path, "--config", str(config))
    assert_transport_error_run(result, tmp_path, reason="délai")
    # The token went to the target (on driver calls; FHIR calls present the persona's Pro Santé Connect token
    # instead), and nowhere into what the run wrote.
    assert target.requests and all(b"authorization: bearer " in request.lower() for request in target.requests)
    assert any(TOKEN.encode() in request for request in target.requests)
    assert TOKEN not in result.output
    for path in tmp_path.glob("*/**/*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
