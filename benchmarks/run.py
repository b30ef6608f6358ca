"""aiokv's benchmark: every system side by side with the floor, in one run.

    python -m benchmarks.run            # full run, writes docs/performance.md + .png
    python -m benchmarks.run --quick    # smoke run with tiny sizes (< 90 s)
    python -m benchmarks.run --only ag  # some workloads

A run of some workloads into a report already there (docs/performance.md by
default) replaces those workloads' figures and target rows, keeps the
others', and says when each was measured; it leaves the chart as it was.

The machine is shared and noisy, so each figure is a ratio to the floor
measured in the same repetition, systems interleaved, and the reported ratio
is the median over the repetitions. Absolute times are context only.
workloads.py runs the workloads, targets.py holds the targets, report.py
writes the report and the chart.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import chart, render, write
from benchmarks.systems import ALL
from benchmarks.workloads import FULL, QUICK, ROOT, Bench

WORKLOADS = "abcdefghijklm"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write performance.md and performance.png "
        "(default: docs/ for a full run, a temp dir for --quick)",
    )
    parser.add_argument("--only", default=WORKLOADS, help="workloads to run, e.g. 'aeg'")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out = args.out or (ROOT / "docs" if not args.quick else Path(tempfile.mkdtemp()))
    out.mkdir(parents=True, exist_ok=True)
    some = None if set(WORKLOADS) <= set(args.only) else set(args.only)
    command = (
        "python -m benchmarks.run"
        + (" --quick" if args.quick else "")
        + (f" --only {''.join(sorted(some))}" if some else "")
    )
    workdir = Path(tempfile.mkdtemp(prefix="aiokv-bench-"))
    start = time.perf_counter()
    try:
        bench = Bench(sizes, list(ALL), workdir)
        asyncio.run(bench.run_async(set(args.only)))
        if "h" in args.only:
            bench.h_memory()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(bench, command, time.perf_counter() - start)
    wrote = [out / "performance.md"]
    if not write(report, wrote[0], some):  # a merged report keeps the chart it has
        chart(bench, out / "performance.png")
        wrote.append(out / "performance.png")
    print(report)
    print(f"\nwrote {' and '.join(map(str, wrote))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
