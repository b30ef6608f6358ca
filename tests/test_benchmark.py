"""The benchmark's smoke run, so it never rots: every workload, every system, tiny sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.redis.server import available, require_redis

pytestmark = pytest.mark.bench


def run(module: str, *args: str) -> str:
    """Run python -m module args from the project's root; return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quick_benchmark_runs_and_reports_every_workload(tmp_path: Path) -> None:
    run("benchmarks.run", "--quick", "--out", str(tmp_path))
    report = (tmp_path / "performance.md").read_text()
    for workload in "abcdefgh":
        assert f"## ({workload})" in report, workload
    for system in (
        "floor",
        "aiokv",
        "pickledb",
        "sqlitedict",
        "diskcache",
        "tinydb",
        "shelve",
        "aiosqlite",
        "rewrite-per-set",
    ):
        assert f"| {system} |" in report, system
    if available() or require_redis():  # (j) needs a redis-server; CI has one
        assert "## (j) Redis" in report
        assert "| RedisKV |" in report and "| redis.asyncio by hand |" in report
        assert "not measured" not in report
    else:
        assert report.count("not measured") == 1  # (j)'s target
    assert (tmp_path / "performance.png").stat().st_size > 10_000


@pytest.mark.parametrize("only", ["b", "f"])
def test_a_run_of_some_workloads_draws_the_plots_it_has_figures_for(
    tmp_path: Path, only: str
) -> None:
    # The side-by-side comparisons docs/performance.md describes run --only.
    run("benchmarks.run", "--quick", "--only", only, "--out", str(tmp_path))
    assert f"## ({only})" in (tmp_path / "performance.md").read_text()
    assert (tmp_path / "performance.png").stat().st_size > 10_000


def test_the_cost_of_a_set_prints_each_step() -> None:
    out = run("benchmarks.set_cost")
    rows = out.splitlines()[1:]
    assert len(rows) == 6
    assert all(float(row.split()[0]) > 0 for row in rows), out


def test_sets_then_flush_alone_prints_its_median() -> None:
    assert float(run("benchmarks.sets_then_flush")) > 0
