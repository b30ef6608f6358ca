"""The write ordering campaign's checker (the campaign: test_campaigns.py)."""

from __future__ import annotations

from tests.faults import order


def test_the_checker_catches_a_rename_before_the_fsync() -> None:
    # The checker itself must fail on the ordering bug it exists to catch.
    target = "/d/state.json"
    tmp = "/d/.state.json.ab.aiokv-tmp"
    bad = [
        ("openat", f'AT_FDCWD, "{tmp}", O_WRONLY|O_CREAT|O_EXCL) = 3<{tmp}>'),
        ("write", f'3<{tmp}>, "{{}}", 2) = 2'),
        ("rename", f'"{tmp}", "{target}") = 0'),
        ("fsync", f"3<{tmp}>) = 0"),
        ("close", f"3<{tmp}>) = 0"),
        ("fsync", "4</d>) = 0"),
    ]
    assert any("out of order" in p for p in order.check_flush(bad, target))
    in_place = [("write", f'5<{target}>, "{{}}", 2) = 2')]
    assert any("target itself" in p for p in order.check_flush(in_place, target))
