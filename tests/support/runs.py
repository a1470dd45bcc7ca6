"""Running suites in-process for tests."""

import asyncio
from pathlib import Path

from conformance.reporting.model import Report, ReportBuilder
from conformance.session import RunOptions, Session, Suite
from conformance.transport.client import TargetSettings

#: short waits, so that a fault that hangs or trickles costs seconds; the base URL is replaced by the session's
BOUNDED = TargetSettings(base_url="http://unused.invalid", read_timeout=5.0, total_timeout=8.0)


def play(suite: Suite, run_dir: Path | None = None, **options) -> Report:
    """Run a suite against the in-process reference DUI and return its report."""
    builder = ReportBuilder()
    session = Session(suite, RunOptions(seed=options.pop("seed", 7), **options), run_dir)
    asyncio.run(session.run([builder]))
    return builder.build()
