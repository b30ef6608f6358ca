"""Run a framework's own tests on aiokv's adapter, once per store, and hold them to the doc.

run() fetches the sdist of the framework's installed version from PyPI (pip
download, kept in a cache), unpacks it, drops our conftest into it, builds once
a venv of the framework's own test pins with aiokv installed editable (so their
pytest plugins never enter our test env), starts a redis-server for the Redis
stores, runs their test file once per store with a JUnit report, and compares
each store's results with the failures docs/integrations.md lists, with their
reasons, under "### <framework>'s own tests". A failure or skip not listed, a
listed test that passes or does not run, and a run that did not run their
tests are each a problem. Only the downloads reach the network.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import ROOT
from tests.redis import server

DOC = ROOT / "docs" / "integrations.md"
# A row of a section's table: | `TestX::test_y[param]` | file, redis | reason |
ROW = re.compile(r"\|\s*`(?P<test>[^`]+)`\s*\|(?P<stores>[^|]*)\|(?P<reason>[^|]*)\|\s*")
ALL_STORES = "all"
# A run of PTB's takes about a minute (its tests sleep); ten is a hang.
RUN_TIMEOUT = 600
OUTPUT_TAIL = 6000  # characters of pytest's output kept: its summary of failures


@dataclass(frozen=True)
class Framework:
    """What differs between the frameworks' suites; our conftest is <name>_conftest.py here."""

    name: str  # the command's name for it
    dist: str  # its name on PyPI, pinned in our test group
    extras: str  # its extras that its tests import
    group: str  # the dependency group of its pyproject that holds its test pins
    pins: tuple[str, ...]  # pins for what its group leaves open
    suite: str  # the test file, in its sdist
    conftest: str  # where ours goes in its sdist
    file_stores: tuple[str, ...]  # the stores our conftest makes on a file
    redis_stores: tuple[str, ...]  # and on a RedisKV
    unset: tuple[str, ...] = ()  # environment variables its tests react to

    @property
    def stores(self) -> tuple[str, ...]:
        """Every store its suite runs on."""
        return self.file_stores + self.redis_stores

    @property
    def heading(self) -> str:
        """The heading of docs/integrations.md's section listing its expected failures."""
        return f"### {self.dist}'s own tests"


@dataclass
class Outcome:
    """One store's run: each test id's result, or why the run itself failed."""

    store: str
    results: dict[str, str] = field(default_factory=dict)  # id -> passed/failed/skipped
    broken: str = ""  # pytest did not run the suite: why
    output: str = ""  # the end of pytest's output, shown when the run has problems


def cache_dir() -> Path:
    """Where the sdists and the venvs are kept between runs (AIOKV_SUITES_CACHE overrides)."""
    base = os.environ.get("AIOKV_SUITES_CACHE") or Path.home() / ".cache" / "aiokv" / "suites"
    return Path(base)


def pip(python: Path | str, *args: str) -> None:
    """Run pip quietly with python; on failure raise with its output."""
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def fetch_sdist(dist: str, version: str, cache: Path) -> Path:
    """The sdist of dist at version, from the cache or from PyPI through pip download."""
    archive = cache / f"{dist}-{version}.tar.gz"
    if not archive.exists():
        with tempfile.TemporaryDirectory(dir=cache) as download:
            pip(sys.executable, "download", "--no-deps", "--no-binary", ":all:",
                "--dest", download, f"{dist}=={version}")  # fmt: skip
            (fetched,) = Path(download).iterdir()
            if not fetched.name.endswith(".tar.gz"):
                raise RuntimeError(f"{dist} {version}: the sdist is {fetched.name}, not a .tar.gz")
            # Moved in whole: an interrupted download never sits in the cache.
            os.replace(fetched, archive)
    return archive


def unpack(archive: Path, into: Path) -> Path:
    """Unpack the sdist into an empty directory into; return its one top directory."""
    into.mkdir()
    with tarfile.open(archive) as tar:
        # "data": no absolute paths, no escape through .. or links, no devices.
        tar.extractall(into, filter="data")
    (tree,) = into.iterdir()
    return tree


def venv(framework: Framework, version: str, tree: Path, cache: Path) -> Path:
    """The python of a venv with the framework, its test pins and aiokv (editable): built once."""
    wanted = [f"{framework.dist}[{framework.extras}]=={version}", *framework.pins,
              "-e", f"{ROOT}[redis]"]  # fmt: skip
    # A new aiokv dependency, another checkout or another Python is another venv.
    key = hashlib.sha256(
        repr((framework, wanted, sys.version, (ROOT / "pyproject.toml").read_text())).encode()
    ).hexdigest()[:16]
    home = cache / f"venv-{framework.name}-{key}"
    python = home / "bin" / "python"
    if not (home / "ready").exists():
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
        pip(python, "install", "--upgrade", "pip")  # --group needs pip 25.1
        pip(python, "install", *wanted, "--group", f"{tree / 'pyproject.toml'}:{framework.group}")
        (home / "ready").touch()
    return python


def run_store(
    framework: Framework, python: Path, tree: Path, store: str, env: dict[str, str], work: Path
) -> Outcome:
    """Run the framework's suite on one store; its results by test id."""
    report = work / f"{store}.xml"
    try:
        done = subprocess.run(
            [str(python), "-m", "pytest", framework.suite, "-q", "-p", "no:cacheprovider",
             f"--basetemp={work / ('tmp-' + store)}", f"--junitxml={report}"],
            cwd=tree, env={**env, "AIOKV_SUITE_STORE": store}, capture_output=True, text=True,
            timeout=RUN_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        return Outcome(store, broken=f"pytest still running after {RUN_TIMEOUT} s: {e}")
    outcome = Outcome(store, output=(done.stdout + done.stderr)[-OUTPUT_TAIL:])
    if done.returncode not in (0, 1) or not report.exists():
        outcome.broken = f"pytest exited {done.returncode}:\n{outcome.output}"
    else:
        outcome.results = read_junit(report)
        if not outcome.results:
            outcome.broken = f"no test ran:\n{outcome.output}"
    return outcome


def read_junit(report: Path) -> dict[str, str]:
    """Each test's result from pytest's JUnit XML, by id ("Class::test[param]")."""
    results: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "")
        test = f"{cls}::{name}" if cls[:1].isupper() else name
        if case.find("failure") is not None or case.find("error") is not None:
            results[test] = "failed"
        elif case.find("skipped") is not None:
            results[test] = "skipped"
        else:
            results[test] = "passed"
    return results


def expected_failures(framework: Framework, text: str) -> dict[str, dict[str, str]]:
    """The failures the doc's text lists under framework's heading: store -> test id -> reason."""
    lines = text.splitlines()
    if framework.heading not in lines:
        raise ValueError(f"{DOC}: no section {framework.heading!r}")
    expected: dict[str, dict[str, str]] = {store: {} for store in framework.stores}
    for line in lines[lines.index(framework.heading) + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| `"):
            test, stores, reason = _row(framework, line)
            for store in stores:
                expected[store][test] = reason
    return expected


def _row(framework: Framework, line: str) -> tuple[str, tuple[str, ...], str]:
    """A row of the table: its test id, the stores it fails on, the reason."""
    row = ROW.fullmatch(line)
    listed = row["stores"].strip() if row else ""
    stores = framework.stores if listed == ALL_STORES else tuple(map(str.strip, listed.split(",")))
    if row is None or not row["reason"].strip() or not set(stores) <= set(framework.stores):
        raise ValueError(
            f"{DOC}: {line!r}: want | `test id` | stores ({', '.join(framework.stores)}"
            f" or {ALL_STORES}) | a reason |"
        )
    return row["test"], stores, row["reason"].strip()


def problems(outcome: Outcome, expected: dict[str, str]) -> list[str]:
    """What fails one store's run: a broken run, an unlisted failure, a listed pass or absence."""
    if outcome.broken:
        return [f"{outcome.store}: the suite did not run: {outcome.broken}"]
    found = []
    for test, result in outcome.results.items():
        if result != "passed" and test not in expected:
            found.append(f"{outcome.store}: {test} {result}, and {DOC.name} does not list it")
    for test, reason in expected.items():
        result = outcome.results.get(test, "not run")
        if result in ("passed", "not run"):
            found.append(f"{outcome.store}: {test} is listed ({reason}) but {result}")
    return found


def run(framework: Framework) -> list[str]:
    """Run the framework's suite on each of its stores; return the problems (none: it passes)."""
    expected = expected_failures(framework, DOC.read_text())
    version = importlib.metadata.version(framework.dist)
    found: list[str] = []
    stores = framework.stores
    if not server.available():
        if server.require_redis():
            found.append(f"{framework.name}: redis-server is not installed: {server.INSTALL}")
        print(f"{framework.name}: Redis stores skipped, no redis-server: {server.INSTALL}")
        stores = framework.file_stores
    with tempfile.TemporaryDirectory(prefix=f"aiokv-{framework.name}-suite-") as work:
        outcomes = run_stores(framework, version, stores, Path(work))
    for outcome in outcomes:
        not_passing = sum(result != "passed" for result in outcome.results.values())
        print(f"{framework.dist} {version} {framework.suite} on {outcome.store}: "
              f"{len(outcome.results)} run, {not_passing} not passing "
              f"({len(expected[outcome.store])} listed in {DOC.name})")  # fmt: skip
        store_problems = problems(outcome, expected[outcome.store])
        if store_problems and not outcome.broken:
            print(f"--- pytest's output on {outcome.store}, its end:\n{outcome.output}")
        found += [f"{framework.name} on {problem}" for problem in store_problems]
    return found


def run_stores(
    framework: Framework, version: str, stores: tuple[str, ...], work: Path
) -> list[Outcome]:
    """Their suite, set up in work with our conftest, run on each of stores at once."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    tree = unpack(fetch_sdist(framework.dist, version, cache), work / "sdist")
    ours = tree / framework.conftest
    if ours.exists():
        raise RuntimeError(f"{framework.dist} {version} ships {ours}: ours would replace it")
    shutil.copyfile(Path(__file__).with_name(f"{framework.name}_conftest.py"), ours)
    python = venv(framework, version, tree, cache)
    # Their tests import their own "tests" package, which ours would shadow.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", *framework.unset)}
    redis = None
    if set(stores) & set(framework.redis_stores):
        redis = server.RedisServer(work / "redis").start()
        env["AIOKV_SUITE_REDIS_URL"] = redis.url
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            return list(
                pool.map(lambda s: run_store(framework, python, tree, s, env, work), stores)
            )
    finally:
        if redis is not None:
            redis.stop()
