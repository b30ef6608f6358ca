"""python-telegram-bot's own persistence tests on AioKVPersistence.

    python -m tests.integrations.ptb_suite [file|namespace|redis ...]

Downloads PTB's sdist from PyPI at the version installed here, unpacks it,
adds conftest_aiokv.py as its conftest.py (it chooses the store, and
changes none of PTB's tests) and runs tests/ext/test_basepersistence.py on
each store at once: an AioKV file, a namespace of one, and a RedisKV on a
redis-server of its own (skipped without one, failed under
AIOKV_REQUIRE_REDIS=1). PTB's tests run in a venv of their own, built once
and cached, with PTB's optional dependencies and its own test pins (its
pyproject's "tests" group). The run fails on any failure that
docs/integrations.md does not list, with its reason, and on a listed one
that passes. Only the downloads reach the network; the tests stay offline.
"""

from __future__ import annotations

import hashlib
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
from importlib.metadata import version
from pathlib import Path

from tests.helpers import ROOT
from tests.redis.server import INSTALL, RedisServer, available, require_redis

STORES = ("file", "namespace", "redis")
SUITE = "tests/ext/test_basepersistence.py"
DOCS = ROOT / "docs" / "integrations.md"
HEADING = "### python-telegram-bot's own tests"
CONFTEST = Path(__file__).with_name("conftest_aiokv.py")
# PTB's optional dependencies: its tests use the job queue, arbitrary
# callback data and, outside GitHub's CI, the passport key.
EXTRAS = "all"
# Each store's run takes about a minute (PTB's tests sleep); ten is a hang.
RUN_TIMEOUT = 600
OUTPUT_TAIL = 6000  # characters of pytest's output kept: its summary of failures


@dataclass
class Outcome:
    """One store's run: each test id's result, or why the run itself failed."""

    store: str
    results: dict[str, str] = field(default_factory=dict)  # id -> passed/failed/skipped
    broken: str = ""  # pytest did not run the suite: its output's end
    output: str = ""  # the end of pytest's output, shown when the run has problems


def cache_dir() -> Path:
    """Where the sdist and the venv are kept between runs (AIOKV_SUITES_CACHE overrides)."""
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


def fetch_sdist(ptb: str, into: Path) -> Path:
    """PTB's sdist at version ptb, downloaded once into into."""
    name = f"python_telegram_bot-{ptb}.tar.gz"
    if not (into / name).exists():
        pip(sys.executable, "download", "--no-deps", "--no-binary", ":all:", "-d", str(into),
            f"python-telegram-bot=={ptb}")  # fmt: skip
    return into / name


def unpack(sdist: Path, into: Path) -> Path:
    """The sdist unpacked in into, with our conftest.py at its root."""
    with tarfile.open(sdist) as tar:
        tar.extractall(into, filter="data")
    tree = into / sdist.name.removesuffix(".tar.gz")
    shutil.copyfile(CONFTEST, tree / "conftest.py")
    return tree


def venv(ptb: str, tree: Path, cache: Path) -> Path:
    """The python of a venv with PTB, its test pins and aiokv (editable): built once."""
    key = hashlib.sha256(
        f"{ptb} {sys.version} {ROOT} {(ROOT / 'pyproject.toml').read_text()}".encode()
    ).hexdigest()[:16]
    home = cache / f"venv-{key}"
    python = home / "bin" / "python"
    if not (home / "ready").exists():
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
        pip(python, "install", "--upgrade", "pip")  # --group needs pip 25.1
        pip(python, "install", f"python-telegram-bot[{EXTRAS}]=={ptb}",
            "--group", f"{tree / 'pyproject.toml'}:tests", "-e", f"{ROOT}[redis]")  # fmt: skip
        (home / "ready").touch()
    return python


def run_store(python: Path, tree: Path, store: str, work: Path, redis_url: str) -> Outcome:
    """Run PTB's suite on one store; its results by test id."""
    report = work / f"{store}.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "BOTS", "JOB_INDEX")}
    env.update(AIOKV_PTB_STORE=store, AIOKV_PTB_REDIS_URL=redis_url)
    done = subprocess.run(
        [str(python), "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider",
         f"--basetemp={work / ('tmp-' + store)}", f"--junitxml={report}"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    outcome = Outcome(store, output=(done.stdout + done.stderr)[-OUTPUT_TAIL:])
    if done.returncode not in (0, 1) or not report.exists():
        outcome.broken = outcome.output
        return outcome
    outcome.results = read_junit(report)
    if not outcome.results:
        outcome.broken = "no test ran:\n" + outcome.output
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


def expected_failures(text: str) -> dict[str, dict[str, str]]:
    """The failures docs/integrations.md lists under HEADING: store -> test id -> reason."""
    lines = text.splitlines()
    if HEADING not in lines:
        raise ValueError(f"{DOCS}: no section {HEADING!r}")
    expected: dict[str, dict[str, str]] = {store: {} for store in STORES}
    for line in lines[lines.index(HEADING) + 1 :]:
        if line.startswith("#"):
            break
        row = re.fullmatch(r"\|\s*`([^`]+)`\s*\|([^|]*)\|(.*)\|\s*", line)
        if row is None:
            continue
        test, stores, reason = row[1], row[2].strip(), row[3].strip()
        names = STORES if stores == "all" else tuple(s.strip() for s in stores.split(","))
        if not reason or not set(names) <= set(STORES):
            raise ValueError(f"{DOCS}: {line!r}: stores ({', '.join(STORES)} or all) and a reason")
        for store in names:
            expected[store][test] = reason
    return expected


def problems(outcome: Outcome, expected: dict[str, str]) -> list[str]:
    """What makes one store's run fail: a broken run, an unlisted failure, a listed pass."""
    if outcome.broken:
        return [f"{outcome.store}: PTB's suite did not run:\n{outcome.broken}"]
    found = []
    for test, result in outcome.results.items():
        if result == "failed" and test not in expected:
            found.append(f"{outcome.store}: {test} failed, and {DOCS.name} does not list it")
    for test, reason in expected.items():
        result = outcome.results.get(test, "not run")
        if result != "failed":
            found.append(f"{outcome.store}: {test} is listed ({reason}) but {result}")
    return found


def run_suite(stores: tuple[str, ...] = STORES) -> list[str]:
    """Run PTB's suite on each of stores; return the problems (none: the run passes)."""
    expected = expected_failures(DOCS.read_text())
    ptb = version("python-telegram-bot")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    found: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aiokv-ptb-suite-") as temp:
        work = Path(temp)
        tree = unpack(fetch_sdist(ptb, cache), work)
        python = venv(ptb, tree, cache)
        server = None
        if "redis" in stores and not available():
            if require_redis():
                found.append(f"redis: redis-server is not installed: {INSTALL}")
            print(f"PTB's suite: redis skipped: redis-server is not installed: {INSTALL}")
            stores = tuple(s for s in stores if s != "redis")
        elif "redis" in stores:
            server = RedisServer(work / "redis").start()
        try:
            url = server.url if server else ""
            with ThreadPoolExecutor(max(len(stores), 1)) as pool:
                outcomes = list(pool.map(lambda s: run_store(python, tree, s, work, url), stores))
        finally:
            if server is not None:
                server.stop()
    for outcome in outcomes:
        failed = sorted(t for t, r in outcome.results.items() if r == "failed")
        passed = sum(r == "passed" for r in outcome.results.values())
        print(f"PTB {ptb} {SUITE} on {outcome.store}: {passed} passed, {len(failed)} failed"
              f" ({len(expected[outcome.store])} listed in {DOCS.name})")  # fmt: skip
        store_problems = problems(outcome, expected[outcome.store])
        if store_problems and not outcome.broken:
            print(f"--- pytest's output on {outcome.store}, its end:\n{outcome.output}")
        found += store_problems
    return found


def main(argv: list[str]) -> int:
    """The command: run, print the problems, exit 1 if any."""
    stores = tuple(argv) or STORES
    if unknown := set(stores) - set(STORES):
        print(f"unknown store {sorted(unknown)}: {', '.join(STORES)}", file=sys.stderr)
        return 2
    found = run_suite(stores)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0
