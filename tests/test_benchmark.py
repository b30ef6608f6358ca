"""The benchmark's smoke run, so it never rots: every workload, every system, tiny sizes.

The runs are marked bench (python -m pytest -m bench); the report's merging of a run
of some workloads, pure, runs with the other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import MARKER, render, write
from benchmarks.workloads import (
    AIOKV,
    FLOOR,
    NAMESPACE_GET_ALL,
    PLAIN_GET_ALL,
    QUICK,
    Bench,
    Table,
)
from tests.helpers import ROOT
from tests.redis.server import available, require_redis

bench = pytest.mark.bench  # the tests that run the benchmark (it needs the bench group)


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


@bench
def test_quick_benchmark_runs_and_reports_every_workload(tmp_path: Path) -> None:
    run("benchmarks.run", "--quick", "--out", str(tmp_path))
    report = (tmp_path / "performance.md").read_text()
    for workload in "abcdefghlm":
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
        "MemoryStorage",
        "AioKVStorage, file",
        "aiogram-sqlite-storage",
        "PicklePersistence",
        "DictPersistence",
        "AioKVPersistence",
    ):
        assert f"| {system} |" in report, system
    if available() or require_redis():  # (j) and (k) need a redis-server; CI has one
        assert "## (j) Redis" in report
        assert "| RedisKV |" in report and "| redis.asyncio by hand |" in report
        assert "## (k) Throughput" in report
        assert "| RedisStorage |" in report and "| AioKVStorage, RedisKV |" in report
        for row in (
            "one primary, two replicas; replicas=0 | 1 |",
            "one primary, two replicas; replicas=1 (by hand: WAIT 1) | 2 |",
            "Cluster of 3 primaries (each with a replica), 30 stores | 2 |",
        ):
            assert f"| {row} " in report, row
        assert "| workers | RedisKV: median | worst | by hand: median | worst |" in report
        assert "not measured" not in report
    else:
        assert report.count("not measured") == 3  # (j)'s, (k)'s and (l)'s on Redis
    assert (tmp_path / "performance.png").stat().st_size > 10_000


@bench
@pytest.mark.parametrize("only", ["b", "f"])
def test_a_run_of_some_workloads_draws_the_plots_it_has_figures_for(
    tmp_path: Path, only: str
) -> None:
    # The side-by-side comparisons docs/performance.md describes run --only.
    run("benchmarks.run", "--quick", "--only", only, "--out", str(tmp_path))
    assert f"## ({only})" in (tmp_path / "performance.md").read_text()
    assert (tmp_path / "performance.png").stat().st_size > 10_000


def test_a_run_of_some_workloads_replaces_their_figures_in_the_report(tmp_path: Path) -> None:
    # A run --only into docs/ must not throw the other workloads' figures away.
    def bench(*tables: Table) -> Bench:
        made = Bench(QUICK, [], tmp_path)
        made.tables = list(tables)
        return made

    def table(title: str, aiokv: float) -> Table:
        made = Table(title, "ms")
        made.add(FLOOR, 1.0)
        made.add(AIOKV, aiokv)
        return made

    def namespaces(ratio: float) -> Table:
        made = Table("(i) ns.get_all()", "µs", reference=PLAIN_GET_ALL)
        made.add(PLAIN_GET_ALL, 1.0)
        made.add(NAMESPACE_GET_ALL, ratio)
        return made

    path = tmp_path / "performance.md"
    path.write_text("# Performance\n\nWritten by a person.\n")
    full = bench(table("(a) get, str value", 1.1), table("(b) sets", 5.0), namespaces(0.9))
    assert not write(render(full, "python -m benchmarks.run", 600), path)
    some = bench(table("(b) sets", 4.0), namespaces(0.7))
    assert write(render(some, "python -m benchmarks.run --only bi", 60), path, {"b", "i", "k"})
    text = path.read_text()
    above, generated = text.split(MARKER)
    assert above == "# Performance\n\nWritten by a person.\n\n"
    lines = generated.strip().splitlines()
    assert lines[0].startswith("Measured ") and "`python -m benchmarks.run` (600 s)" in lines[0]
    # (k) measured nothing (no redis-server, say): not named, its row as it was.
    assert lines[2].startswith("Workloads (b, i) measured ")
    assert "`python -m benchmarks.run --only bi` (60 s)" in lines[2]
    assert "| (a) get, str value | <= 1.5x floor | 1.10x | yes |" in lines
    assert (
        "| (b) sets + durable flush | <= 4x floor on every CPython 3.10 to 3.13 | 4.00x | yes |"
        in lines
    )
    assert any(line.startswith("| (i) ") and "| 0.70x | yes |" in line for line in lines)
    assert any(line.startswith("| (k) ") and "| not measured |" in line for line in lines)
    sections = [line for line in lines if line.startswith("## (")]
    assert sections == ["## (a) get, str value", "## (b) sets", "## (i) ns.get_all()"]
    assert "| aiokv | 4.00 | 4.00 |  |" in lines and "| aiokv | 5.00 | 5.00 |  |" not in lines
    assert lines[lines.index("## (b) sets") - 1] == ""
    # A full run writes everything anew.
    assert not write(render(full, "python -m benchmarks.run", 600), path, None)
    assert "Workloads (b, i)" not in path.read_text()


@bench
def test_the_cost_of_a_set_prints_each_step() -> None:
    out = run("benchmarks.set_cost")
    rows = out.splitlines()[1:]
    assert len(rows) == 6
    assert all(float(row.split()[0]) > 0 for row in rows), out


@bench
def test_sets_then_flush_alone_prints_its_median() -> None:
    assert float(run("benchmarks.sets_then_flush")) > 0
