"""The integrations ship, stay optional, and say which extra they need."""

from __future__ import annotations

import re

from tests.helpers import ROOT, run_child


def test_every_package_of_aiokv_is_in_the_distribution() -> None:
    listed = re.search(r"^packages = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert listed is not None
    packages = {p.strip().strip('"') for p in listed.group(1).split(",")}
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "aiokv").rglob("__init__.py")
    }
    assert packages == on_disk


def test_import_aiokv_never_imports_a_framework() -> None:
    result = run_child(
        """
        import sys
        import aiokv, aiokv.cli
        print(sorted(m for m in ("aiogram", "telegram", "discord") if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_integration_without_its_framework_names_the_extra() -> None:
    for module, framework, extra in (
        ("aiogram", "aiogram", "aiokv[aiogram]"),
        ("telegram", "telegram", "aiokv[telegram]"),
    ):
        result = run_child(
            f"""
            import sys
            sys.modules[{framework!r}] = None  # as if it were not installed
            import aiokv.integrations.{module}
            """
        )
        assert result.returncode != 0
        assert f'pip install "{extra}"' in result.stderr.splitlines()[-1]
