import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from conformance.core.resources import data_path
from conformance.reporting.model import Report, ReportBuilder
from conformance.session import RunOptions, Session, load_plugins, load_suite

load_plugins()

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.fixture(scope="session")
def suite():
    return load_suite()


def play(suite, run_dir: Path | None = None, **options) -> Report:
    """Run a suite in-process and return its report."""
    builder = ReportBuilder()
    session = Session(suite, RunOptions(seed=options.pop("seed", 7), **options), run_dir)
    asyncio.run(session.run([builder]))
    return builder.build()


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def report_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(data_path("schemas", "report.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write
