"""Running suites in-process for tests."""

import asyncio
from pathlib import Path

from conformance.reporting.model import Report, ReportBuilder
from conformance.session import RunOptions, Session, Suite


def play(suite: Suite, run_dir: Path | None = None, **options) -> Report:
    """Run a suite against the in-process reference DUI and return its report."""
    builder = ReportBuilder()
    session = Session(suite, RunOptions(seed=options.pop("seed", 7), **options), run_dir)
    asyncio.run(session.run([builder]))
    return builder.build()
