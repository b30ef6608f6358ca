"""What every fault campaign shares: its result row, its scale, child processes."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# AIOKV_LONG=1 (or `python -m tests.faults.report --long`) runs every campaign
# at its deep size; the default is the bounded size CI runs.
LONG = os.environ.get("AIOKV_LONG") == "1"


def json_values(max_leaves: int, text: int) -> st.SearchStrategy[Any]:
    """Any value aiokv stores faithfully: JSON types, 64-bit ints, finite floats."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=text),
        lambda inner: (
            st.lists(inner, max_size=text // 4 + 2)
            | st.dictionaries(st.text(max_size=text // 2), inner, max_size=text // 4 + 2)
        ),
        max_leaves=max_leaves,
    )


@dataclass
class Result:
    """One campaign's row in the report."""

    campaign: str
    cases: int = 0
    survived: int = 0
    lost_writes: int = 0
    corrupt_files: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # What the run did and broke, by kind, for a campaign that counts it (redis_faults).
    tally: Counter[str] = field(default_factory=Counter)

    def case(self, ok: bool, what: str, *, lost: int = 0, corrupt: int = 0) -> None:
        """Count one case; keep a description of each that did not survive."""
        self.cases += 1
        self.lost_writes += lost
        self.corrupt_files += corrupt
        if ok and not lost and not corrupt:
            self.survived += 1
        else:
            self.failures.append(what)

    def check(self) -> None:
        """Raise AssertionError listing the cases that did not survive."""
        assert self.cases > 0, f"{self.campaign}: no case ran"
        assert not self.failures, f"{self.campaign}: {len(self.failures)} failed:\n" + "\n".join(
            self.failures[:20]
        )


class Timer:
    """Measures a campaign's run time into its Result."""

    def __init__(self, result: Result) -> None:
        self.result = result

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result.seconds += time.perf_counter() - self.start
