"""End to end through the CLI: an unreachable target stops the run before it starts (exit 3), never a crash."""

import ssl
from collections.abc import Iterator
from pathlib import Path

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


def assert_unreachable(result: Result, report_dir: Path, *, reason: str) -> None:
    """Exit 3 at once, one line that says why, no traceback, and no run folder: nothing was played."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == ExitCode.HARNESS_ERROR, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("cible injoignable : ") and reason in line and "aucun scénario joué" in line, line
    assert not report_dir.exists() or not any(report_dir.iterdir())


@pytest.fixture
def server() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for each in started:
        each.stop()


def test_closed_port(tmp_path: Path) -> None:
    result = run(f"http://127.0.0.1:{unused_port()}", tmp_path / "reports")
    assert_unreachable(result, tmp_path / "reports", reason="connexion impossible")


def test_untrusted_tls_certificate(tmp_path: Path, server: list[Server]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    server.append(target := Server(respond(200, [], b"{}"), tls=context).start())
    result = run(target.url, tmp_path / "reports")
    assert_unreachable(result, tmp_path / "reports", reason="TLS")
    assert target.requests == []


def test_server_that_never_answers(tmp_path: Path, server: list[Server]) -> None:
    config = tmp_path / "vendor.toml"
    config.write_text(f'[timeouts]\nconnect = 1\nread = 1\ntotal = 2\n\n[auth]\nbearer_token = "{TOKEN}"\n',
                      encoding="utf-8")
    server.append(target := Server(silent).start())
    result = run(target.url, tmp_path / "reports", "--config", str(config))
    assert_unreachable(result, tmp_path / "reports", reason="délai")
    assert len(target.requests) == 1  # the pre-flight request only, sent once
    assert TOKEN not in result.output


def test_a_target_that_answers_anything_is_reachable(tmp_path: Path, server: list[Server]) -> None:
    # A 404 on the root is an answer: the run goes on and the scenarios judge the DUI.
    server.append(target := Server(respond(404, [], b"")).start())
    result = run(target.url, tmp_path / "reports")
    assert "cible injoignable" not in result.output
    assert result.exit_code == ExitCode.NON_CONFORME, result.output
    assert list((tmp_path / "reports").glob("*/report.json"))
