"""python-telegram-bot's own persistence tests on AioKVPersistence: ptb_suite."""

from __future__ import annotations

import pytest

from tests.integrations.ptb_suite.run import (
    DOCS,
    HEADING,
    STORES,
    Outcome,
    expected_failures,
    problems,
    run_suite,
)


@pytest.mark.suites
def test_ptb_s_own_persistence_tests_pass_on_every_store() -> None:
    # Downloads PTB's sdist (and, once, its test venv) from PyPI; the tests run offline.
    assert run_suite() == []


def test_the_docs_list_of_expected_failures_parses() -> None:
    expected = expected_failures(DOCS.read_text())
    assert set(expected) == set(STORES)


LISTED = f"""{HEADING}

| PTB's test | stores | why it fails on aiokv |
|---|---|---|
| `TestBasePersistence::test_a[papp0]` | all | a reason |
| `TestBasePersistence::test_b` | redis | another reason |

## next section
| `TestBasePersistence::test_c` | all | not in the section |
"""


def test_a_listed_failure_counts_for_its_stores_only() -> None:
    expected = expected_failures(LISTED)
    assert expected["file"] == {"TestBasePersistence::test_a[papp0]": "a reason"}
    assert expected["redis"] == {
        "TestBasePersistence::test_a[papp0]": "a reason",
        "TestBasePersistence::test_b": "another reason",
    }


@pytest.mark.parametrize(
    "row",
    ["| `TestX::test_a` | file | |", "| `TestX::test_a` | disk | a reason |"],
    ids=["no reason", "unknown store"],
)
def test_a_row_without_a_reason_or_with_an_unknown_store_is_an_error(row: str) -> None:
    with pytest.raises(ValueError, match="a reason"):
        expected_failures(f"{HEADING}\n\n{row}\n")


def test_the_docs_without_the_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="no section"):
        expected_failures("# Bot frameworks\n")


def test_an_unlisted_failure_and_a_listed_pass_each_fail_the_run() -> None:
    expected = {"TestX::test_listed": "why", "TestX::test_absent": "why"}
    outcome = Outcome(
        "file",
        {"TestX::test_new": "failed", "TestX::test_listed": "passed", "TestX::test_ok": "passed"},
    )
    assert problems(outcome, expected) == [
        "file: TestX::test_new failed, and integrations.md does not list it",
        "file: TestX::test_listed is listed (why) but passed",
        "file: TestX::test_absent is listed (why) but not run",
    ]
    assert (
        problems(Outcome("file", {"TestX::test_listed": "failed"}), {"TestX::test_listed": "why"})
        == []
    )


def test_a_run_that_did_not_run_the_suite_fails() -> None:
    assert problems(Outcome("redis", broken="ImportError"), {}) == [
        "redis: PTB's suite did not run:\nImportError"
    ]
