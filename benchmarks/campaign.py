"""A campaign: N full default runs against N reference DUIs at once, wall time compared with one run.

Each run is its own `dui-conformance run` process (what an assessor or a CI matrix launches), its reference DUI
in-process. Run: python benchmarks/campaign.py [--n 1 5 20]. Prints figures; asserts nothing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def campaign(n: int) -> tuple[float, float]:
    """Wall time of ``n`` concurrent runs, and the CPU seconds they used in all."""
    before = os.times()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-m", "conformance", "run", "--seed", "1", "--no-interactive",
                                       "--report-dir", str(Path(folder) / str(i))],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
        codes = [p.wait() for p in processes]
        wall = time.perf_counter() - started
    after = os.times()
    if any(codes):
        raise RuntimeError(f"a run of the campaign did not end conforme: exit codes {codes}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[1, 5, 20])
    args = parser.parse_args()
    base = None
    for n in args.n:
        wall, cpu = campaign(n)
        base = base or wall
        print(f"{n:3} cibles : {wall:6.1f} s ({wall / base:4.1f} × une cible), {cpu:6.1f} s de CPU, "
              f"plancher CPU sur {os.cpu_count()} cœurs : {cpu / (os.cpu_count() or 1):5.1f} s")


if __name__ == "__main__":
    main()
