"""Run aiogram's own storage tests against AioKVStorage: python -m tests.integrations.aiogram_suite

It fetches the sdist of the installed aiogram from PyPI (kept in a cache),
unpacks it, drops in storage_conftest.py, starts a redis-server on a loopback
port, and runs their storage tests on aiokv's stores. It fails on any failure
not listed, with its reason, in docs/integrations.md, and on a listed failure
that passes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT
from tests.redis import server

HERE = Path(__file__).parent
SUITE = "tests/test_fsm/storage/test_storages.py"
DOC = ROOT / "docs" / "integrations.md"
HEADING = "### aiogram's own tests"
# A row of the doc's table: | `TestStorages::test_set_data[aiokv_file]` | reason |
ROW = re.compile(r"^\|\s*`(?P<test>[^`]+)`\s*\|\s*(?P<reason>.*?)\s*\|\s*$")
# What aiogram's tests/conftest.py imports, and the plugin their async tests need.
NEEDS = ("pytest_asyncio", "motor", "pymongo")


@dataclass
class Report:
    """What one run of their suite found, against what the doc expects."""

    version: str
    outcomes: dict[str, str]  # test id: "passed", "failed", "error" or "skipped"
    unexpected: list[str]  # tests that did not pass and are not listed
    fixed: list[str]  # listed tests that passed

    def summary(self) -> str:
        """One line: aiogram's version, the counts, and whether they are as documented."""
        failing = sum(outcome != "passed" for outcome in self.outcomes.values())
        verdict = "as documented" if not (self.unexpected or self.fixed) else "NOT as documented"
        return (
            f"aiogram {self.version}'s storage tests on aiokv: {len(self.outcomes)} run, "
            f"{failing} not passing, {verdict}"
        )


def cache_dir() -> Path:
    """Where fetched sdists are kept between runs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aiokv" / "sdists"


def fetch_sdist(version: str) -> Path:
    """The aiogram sdist of this version, from the cache or from PyPI through pip."""
    archive = cache_dir() / f"aiogram-{version}.tar.gz"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as download:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", f"aiogram=={version}", "--dest", download],
                check=True,
            )  # fmt: skip
            # Moved in whole: an interrupted download never sits in the cache.
            os.replace(Path(download) / archive.name, archive)
    return archive


def unpack(archive: Path, into: Path) -> Path:
    """Unpack the sdist into `into`; return its top directory."""
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")  # CPython 3.10.12+, 3.11.4+
    return into / archive.name.removesuffix(".tar.gz")


def expected_failures(doc: Path = DOC) -> dict[str, str]:
    """The failures docs/integrations.md lists under HEADING: test id to reason."""
    lines = doc.read_text().splitlines()
    if HEADING not in lines:
        raise ValueError(f"{doc}: no {HEADING!r} section listing the expected failures")
    expected = {}
    for line in lines[lines.index(HEADING) + 1 :]:
        if line.startswith("#"):
            break
        if row := ROW.match(line):
            if not row["reason"]:
                raise ValueError(f"{doc}: the expected failure {row['test']} gives no reason")
            expected[row["test"]] = row["reason"]
    return expected


def outcomes(junit: Path) -> dict[str, str]:
    """Each test's outcome in a junit report, by id: TestStorages::test_set_data[aiokv_file]."""
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        test = f"{case.get('classname', '').rpartition('.')[2]}::{case.get('name')}"
        results = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[test] = results[0] if results else "passed"
    return found


def run_suite(workdir: Path) -> Report:
    """Run their storage tests in workdir (a fresh directory) and compare with the doc."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"aiogram's tests need {missing}: pip install -e '.[test]'")
    version = importlib.metadata.version("aiogram")
    sdist = unpack(fetch_sdist(version), workdir)
    conftest = sdist / Path(SUITE).parent / "conftest.py"
    assert not conftest.exists(), f"aiogram {version} ships {conftest}: ours would replace it"
    shutil.copy(HERE / "storage_conftest.py", conftest)
    # Their "tests" package, not ours: aiokv itself comes from the installed package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    redis = None
    if server.available():
        redis = server.RedisServer(workdir / "redis").start()
        env["AIOKV_SUITE_REDIS_URL"] = redis.url
    elif server.require_redis():
        raise RuntimeError(f"no redis-server for the RedisKV runs: {server.INSTALL}")
    junit = workdir / "junit.xml"
    try:
        # Their config turns warnings into errors, pytest-asyncio's about this
        # unset option too; "function" is the scope their fixtures get anyway.
        pytest = subprocess.run(
            [sys.executable, "-m", "pytest", SUITE, "-p", "no:cacheprovider", "-q",
             "-o", "asyncio_default_fixture_loop_scope=function", f"--junitxml={junit}"],
            cwd=sdist, env=env, check=False,
        )  # fmt: skip
    finally:
        if redis is not None:
            redis.stop()
    if not junit.exists():
        raise RuntimeError(f"pytest on aiogram's {SUITE} exited {pytest.returncode}, no report")
    ran = outcomes(junit)
    if not ran:
        raise RuntimeError(f"aiogram {version}'s {SUITE} ran no test")
    expected = expected_failures()
    if redis is None:  # their RedisKV runs did not happen: nothing to hold them to
        expected = {test: why for test, why in expected.items() if "[aiokv_redis" not in test}
    return Report(version, ran, *compare(ran, expected))


def compare(ran: dict[str, str], expected: dict[str, str]) -> tuple[list[str], list[str]]:
    """The tests not passing and not listed; the listed ones that passed or did not run."""
    unexpected = [test for test, out in ran.items() if out != "passed" and test not in expected]
    fixed = [test for test in expected if ran.get(test, "passed") == "passed"]
    return unexpected, fixed


def main() -> int:
    """Run the suite; print what differs from the doc; 0 if nothing does."""
    with tempfile.TemporaryDirectory(prefix="aiogram-suite-") as workdir:
        report = run_suite(Path(workdir))
    for test in report.unexpected:
        print(f"unexpected {report.outcomes[test]}: {test} (not listed in {DOC.name})")
    for test in report.fixed:
        print(f"listed in {DOC.name} as failing, but it passes or no longer runs: {test}")
    print(report.summary())
    return 1 if report.unexpected or report.fixed else 0


if __name__ == "__main__":
    sys.exit(main())
