"""Wall time of the full default suite against the reference DUI, in-process and over loopback.

Run: python benchmarks/suite_time.py [--repeat N]. Prints figures; asserts nothing.
"""

import argparse
import asyncio
import statistics
import time

from conformance.reporting.model import ReportBuilder
from conformance.session import RunOptions, Session, load_suite


def one_run(serve: bool, faults: tuple[str, ...] = ()) -> float:
    suite = load_suite()
    builder = ReportBuilder()
    started = time.perf_counter()
    asyncio.run(Session(suite, RunOptions(seed=1, serve=serve, faults=faults), None).run([builder]))
    elapsed = time.perf_counter() - started
    assert builder.build().run.complete
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    one_run(False)  # warm imports and caches
    for label, serve in (("in-process (ASGI)", False), ("loopback (uvicorn)", True)):
        times = [one_run(serve) for _ in range(args.repeat)]
        print(f"full default suite, {label}: median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f} ms over {args.repeat} runs")


if __name__ == "__main__":
    main()
