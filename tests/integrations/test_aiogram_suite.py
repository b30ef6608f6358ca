"""aiogram's own storage tests, fetched from PyPI, on every aiokv store (`-m suites`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrations.aiogram_suite import __main__ as suite
from tests.integrations.aiogram_suite.storage_conftest import FILE_STORES, REDIS_STORES
from tests.redis import server


@pytest.mark.suites
def test_aiogram_s_storage_tests_fail_only_as_docs_integrations_md_lists(tmp_path: Path) -> None:
    report = suite.run_suite(tmp_path)
    print(report.summary())
    assert report.unexpected == [], f"not listed in {suite.DOC}: {report.unexpected}"
    assert report.fixed == [], f"listed in {suite.DOC} but passing: {report.fixed}"
    stores = FILE_STORES + (REDIS_STORES if server.available() else [])
    for test in ("test_set_state", "test_set_data", "test_update_data"):
        for store in stores:
            assert f"TestStorages::{test}[{store}]" in report.outcomes


def test_the_expected_failures_are_read_from_the_doc_each_with_its_reason(tmp_path: Path) -> None:
    doc = tmp_path / "integrations.md"
    doc.write_text(
        "## aiogram\n\n### aiogram's own tests\n\ntext\n\n"
        "| aiogram's test | why it fails on aiokv |\n|---|---|\n"
        "| `TestStorages::test_set_data[aiokv_file]` | a reason |\n\n"
        "## python-telegram-bot\n\n| `TestOther::test_x` | not aiogram's |\n"
    )
    assert suite.expected_failures(doc) == {"TestStorages::test_set_data[aiokv_file]": "a reason"}
    doc.write_text("### aiogram's own tests\n\n| `TestStorages::test_set_data[aiokv_file]` |  |\n")
    with pytest.raises(ValueError, match="gives no reason"):
        suite.expected_failures(doc)
    doc.write_text("## aiogram\n")
    with pytest.raises(ValueError, match='no "### aiogram\'s own tests" section'):
        suite.expected_failures(doc)
    suite.expected_failures()  # the real doc has its section


def test_a_failure_not_listed_and_a_listed_test_that_passes_both_fail_the_run() -> None:
    ran = {"T::a[s]": "passed", "T::b[s]": "failed", "T::c[s]": "error", "T::d[s]": "skipped"}
    listed = {"T::a[s]": "now passes", "T::c[s]": "listed", "T::gone[s]": "no longer runs"}
    assert suite.compare(ran, listed) == (["T::b[s]", "T::d[s]"], ["T::a[s]", "T::gone[s]"])
    assert suite.compare(ran, {"T::b[s]": "r", "T::c[s]": "r", "T::d[s]": "r"}) == ([], [])
