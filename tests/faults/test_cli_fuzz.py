"""The aiokv command campaign's oracle and judge (the campaign: test_campaigns.py)."""

from __future__ import annotations

import json

from tests.faults import cli_fuzz


def test_the_oracle_refuses_what_a_store_cannot_hold() -> None:
    assert cli_fuzz.parse(b'{"a": [1, 2.5, null]}') == (True, {"a": [1, 2.5, None]})
    for raw in (b"NaN", b"1e400", b"18446744073709551616", b"[1,]", b"\xff", b"[1"):
        assert cli_fuzz.parse(raw) == (False, None), raw
    assert cli_fuzz.parse(b"[" * 5000 + b"]" * 5000) == (None, None)  # past its recursion
    deep = json.loads("[" * 253 + "]" * 253)
    assert cli_fuzz.storable(deep) and not cli_fuzz.storable([deep])
    assert not cli_fuzz.storable({"a": "\ud800"}) and not cli_fuzz.good_key("__aiokv__")


def test_the_judge_catches_a_traceback_a_second_line_and_a_changed_file(tmp_path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{}")
    case = cli_fuzz.Case(["set", str(path), "k", "x"], codes=frozenset({2}))
    case.watched[str(path)] = b"{}"
    assert cli_fuzz.verdict(case, 2, b"", b"aiokv: VALUE is not valid JSON\n") is None
    assert "traceback" in str(cli_fuzz.verdict(case, 1, b"", b"Traceback (most recent..."))
    assert "error lines" in str(cli_fuzz.verdict(case, 2, b"", b"usage: aiokv\naiokv: bad\n"))
    assert "hung" in str(cli_fuzz.verdict(case, None, b"", b""))
    path.write_text('{"k": "x"}')
    assert "changed" in str(cli_fuzz.verdict(case, 2, b"", b"aiokv: refused\n"))
