"""Loader fuzzing: known nasty files and the atheris target (the campaign: test_campaigns.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import fuzz


@pytest.mark.parametrize(
    "raw", [b"", b"\xff\xfe", b"[]", b'{"a":', b'{"a":1}{', b'{"\\ud800":1}', b"1e999"]
)
def test_known_nasty_files_are_refused_untouched(tmp_path: Path, raw: bytes) -> None:
    assert fuzz.open_once(tmp_path / "state.json", raw) == "corrupt"


def test_atheris_target_holds_its_contract() -> None:
    # The long run drives this target with atheris; here, its contract on known input.
    pytest.importorskip("atheris")
    from tests.faults.fuzz_atheris import one_input

    one_input(b'{"a": 1}')
    one_input(b"not json")
    one_input(b"[1, 2]")
