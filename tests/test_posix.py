"""Off POSIX, importing aiokv fails with one clear error, forced here by hiding fcntl."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import run_child

WITHOUT_FCNTL = """
    import sys
    sys.modules["fcntl"] = None  # what a Python without fcntl (Windows) sees
    try:
        import {module}
    except ImportError as e:
        print(type(e).__name__, "|", e, "|", repr(e.__cause__), "|", e.__suppress_context__)
"""


@pytest.mark.parametrize("module", ["aiokv", "aiokv.redis", "aiokv.cli", "aiokv.integrations"])
def test_without_fcntl_import_names_the_platform_and_what_is_missing(module: str) -> None:
    result = run_child(WITHOUT_FCNTL.format(module=module))
    assert result.returncode == 0, result.stderr
    kind, message, cause, suppressed = result.stdout.strip().split(" | ")
    assert kind == "ImportError"  # not ModuleNotFoundError from deep inside
    assert f"not on {sys.platform}" in message and "POSIX" in message
    assert "fcntl" in message and "Linux, macOS" in message
    assert (cause, suppressed) == ("None", "True")  # one error, not a chain


def test_on_posix_import_is_quiet() -> None:
    result = run_child("import aiokv, aiokv.redis, aiokv.cli; print(aiokv.__version__)")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.strip()
