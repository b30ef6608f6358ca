"""The frameworks' own storage tests on aiokv's adapters (tests/integrations/suites).

The suites themselves run under `-m suites` (they fetch the sdists from PyPI);
the rest checks, offline, how a run is held to docs/integrations.md.
"""

from __future__ import annotations

import pytest

from tests.integrations.suites.frameworks import FRAMEWORKS, PTB
from tests.integrations.suites.runner import DOC, Outcome, expected_failures, problems, run


@pytest.mark.suites
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_the_framework_s_own_tests_fail_only_as_docs_integrations_md_lists(name: str) -> None:
    assert run(FRAMEWORKS[name]) == []


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_the_doc_has_each_framework_s_section(name: str) -> None:
    framework = FRAMEWORKS[name]
    assert set(expected_failures(framework, DOC.read_text())) == set(framework.stores)


LISTED = f"""{PTB.heading}

text

| PTB's test | stores | why it fails on aiokv |
|---|---|---|
| `TestBasePersistence::test_a[papp0]` | all | a reason |
| `TestBasePersistence::test_b` | file, redis | another reason |

## next section
| `TestBasePersistence::test_c` | all | not in the section |
"""


def test_a_listed_failure_counts_for_its_stores_only() -> None:
    assert expected_failures(PTB, LISTED) == {
        "file": {
            "TestBasePersistence::test_a[papp0]": "a reason",
            "TestBasePersistence::test_b": "another reason",
        },
        "namespace": {"TestBasePersistence::test_a[papp0]": "a reason"},
        "redis": {
            "TestBasePersistence::test_a[papp0]": "a reason",
            "TestBasePersistence::test_b": "another reason",
        },
    }


@pytest.mark.parametrize(
    "row",
    [
        "| `TestX::test_a` | file | |",
        "| `TestX::test_a` | disk | a reason |",
        "| `TestX::test_a` | a reason |",
    ],
    ids=["no reason", "unknown store", "no stores column"],
)
def test_a_row_without_a_reason_a_known_store_or_three_columns_is_an_error(row: str) -> None:
    with pytest.raises(ValueError, match="a reason"):
        expected_failures(PTB, f"{PTB.heading}\n\n{row}\n")


def test_the_doc_without_the_section_is_an_error() -> None:
    with pytest.raises(ValueError, match='no section "### python-telegram-bot\'s own tests"'):
        expected_failures(PTB, "## python-telegram-bot\n\n### aiogram's own tests\n")


def test_an_unlisted_failure_or_skip_and_a_listed_pass_or_absence_each_fail_the_run() -> None:
    expected = {"T::listed": "why", "T::absent": "why", "T::skips": "why", "T::fails": "why"}
    results = {"T::new": "failed", "T::skipped": "skipped", "T::listed": "passed"}
    results |= {"T::ok": "passed", "T::skips": "skipped", "T::fails": "failed"}
    assert problems(Outcome("file", results), expected) == [
        "file: T::new failed, and integrations.md does not list it",
        "file: T::skipped skipped, and integrations.md does not list it",
        "file: T::listed is listed (why) but passed",
        "file: T::absent is listed (why) but not run",
    ]


def test_a_run_that_did_not_run_the_suite_fails() -> None:
    assert problems(Outcome("redis", broken="pytest exited 4:\nImportError"), {}) == [
        "redis: the suite did not run: pytest exited 4:\nImportError"
    ]
