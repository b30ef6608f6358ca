"""The kill -9 campaign's checker (the campaign: test_campaigns.py)."""

from __future__ import annotations

from tests.faults import kills


def test_the_checker_catches_a_torn_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    path.write_bytes(b'{"__op": 3, "k1": ')
    problems, corrupt = kills.check_after_kill(path, {}, seed=0)
    assert corrupt == 1 and problems
    # A complete file whose content is not the replayed state is caught too.
    path.write_bytes(b'{"__op": 3, "k1": "not what op 3 wrote"}')
    problems, corrupt = kills.check_after_kill(path, {}, seed=0)
    assert corrupt == 1 and "not the state after op 3" in problems[0]
