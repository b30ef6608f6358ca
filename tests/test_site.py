"""The documentation site builds strictly, and a broken link or reference fails it.

The build needs the docs dependency group (pip install --group docs); without
mkdocs these tests skip, saying so, unless AIOKV_REQUIRE_DOCS=1 (CI sets it),
which makes them fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

# What a build reads: the config, the pages, the sources the API reference is
# read from, and the files the pages include (README, CHANGELOG, CONTRIBUTING).
SOURCES = ["mkdocs.yml", "docs", "aiokv", "README.md", "CHANGELOG.md", "CONTRIBUTING.md"]


@pytest.fixture(autouse=True)
def need_mkdocs() -> None:
    if importlib.util.find_spec("mkdocs") is not None:
        return
    missing = "mkdocs is not installed (pip install --group docs)"
    if os.environ.get("AIOKV_REQUIRE_DOCS") == "1":
        pytest.fail(missing + " (AIOKV_REQUIRE_DOCS=1: CI does not skip)")
    pytest.skip(missing)


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """mkdocs build --strict of the tree at root (snippets are read from the cwd)."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            root.mkdir(exist_ok=True)
            shutil.copy(source, root / name)
    return root


def test_the_site_builds_strictly_with_every_page(tmp_path: Path) -> None:
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")} - {"index"}
    built = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert pages <= built, pages - built
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert 'id="aiokv.AioKV.edit"' in api  # the reference holds the docstrings


@pytest.mark.parametrize(
    ("page", "breakage", "said"),
    [
        ("guide.md", "[a page that is not there](no-such-page.md)", "no-such-page.md"),
        ("guide.md", "[a heading that is not there](state.md#no-such-heading)", "no-such-heading"),
        ("guide.md", "[the repository's file](../CHANGELOG.md)", "CHANGELOG.md"),
        ("api.md", "::: aiokv.NoSuchName", "aiokv.NoSuchName"),
        ("index.md", '--8<-- "NO-SUCH-FILE.md"', "NO-SUCH-FILE.md"),
    ],
    ids=["link", "anchor", "file outside docs", "reference", "snippet"],
)
def test_a_broken_link_or_reference_fails_the_build(
    tmp_path: Path, page: str, breakage: str, said: str
) -> None:
    root = copy_of_the_tree(tmp_path)
    with (root / "docs" / page).open("a") as f:
        f.write(f"\n{breakage}\n")
    result = build(root, tmp_path / "site")
    # The copy builds as it is (the test above builds the tree it copies), so
    # the failure is the breakage's: its message names it.
    assert result.returncode != 0
    assert said in result.stderr, result.stderr
