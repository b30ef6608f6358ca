"""The house's rules, read from CONTRIBUTING.md's table of rooms and checked on aiokv/.

Each file of aiokv/ has a row saying what it owns and which aiokv modules it
may import; its imports must be among them. No module takes another's
insides (an underscore name), nothing but the public names, the command line
and the integrations imports the store, and the size bounds hold.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "aiokv"
ROW = re.compile(r"^\| `aiokv/(?P<file>[\w/]+\.py)` \| (?P<owns>.+?) \| (?P<imports>.+?) \|$")
MAX_MODULE_LINES = 400
MAX_STORE_LINES = 450  # AioKV with its base class, Lifecycle
MAX_FUNCTION_LINES = 70
# What may import the store: the public names, the command line, the integrations.
STORE_IMPORTERS = re.compile(r"^aiokv(\.__init__|\.cli(\..*)?|\.integrations(\..*)?)$")


def table() -> dict[str, set[str]]:
    """CONTRIBUTING's rows: each file's module name -> the modules it may import."""
    rows = {}
    for line in (ROOT / "CONTRIBUTING.md").read_text().splitlines():
        if match := ROW.match(line):
            allowed = set(re.findall(r"`([\w.]+)`", match["imports"]))
            assert allowed or match["imports"].strip() == "nothing", line
            rows[module_name(PACKAGE.parent / "aiokv" / match["file"])] = {
                name if name == "aiokv" else f"aiokv.{name}" for name in allowed
            }
    return rows


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path) -> tuple[set[str], set[str]]:
    """The aiokv modules path imports, and the underscore names it takes from them."""
    return imports_of(path.read_text(), module_name(path))


def imports_of(source: str, name: str) -> tuple[set[str], set[str]]:
    """imports() of the module name whose text is source."""
    package = name.removesuffix(".__init__") if name.endswith(".__init__") else name
    package = package if name.endswith(".__init__") else name.rpartition(".")[0]
    found, insides = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("aiokv"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if is_module(full):
                    found.add(full)
                else:
                    found.add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        insides.add(full)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("aiokv")}
    found.discard(name.removesuffix(".__init__"))
    return found, insides


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def canonical(name: str) -> str:
    """A package's name stands for its __init__.py."""
    return f"{name}.__init__" if (PACKAGE.parent / name.replace(".", "/")).is_dir() else name


def test_every_file_has_a_row_and_every_row_a_file() -> None:
    rows = set(table())
    files = {module_name(p) for p in modules()}
    assert files - rows == set(), "files CONTRIBUTING's table of rooms does not describe"
    assert rows - files == set(), "rows of CONTRIBUTING's table naming no file"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_room_imports_what_its_row_allows_and_no_room_takes_anothers_insides(
    path: Path,
) -> None:
    allowed = {canonical(name) for name in table().get(module_name(path), set())}
    found, insides = imports(path)
    assert {canonical(name) for name in found} - allowed == set()
    assert insides == set(), "underscore names taken from another module"


def test_only_the_public_names_the_command_and_the_integrations_import_the_store() -> None:
    for path in modules():
        if "aiokv.store" in imports(path)[0]:
            assert STORE_IMPORTERS.match(module_name(path)), path


def test_the_size_bounds_hold() -> None:
    for path in modules():
        source = path.read_text()
        assert source.count("\n") <= MAX_MODULE_LINES, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                assert lines <= MAX_FUNCTION_LINES, f"{path}: {node.name} is {lines} lines"
    store = sum(
        node.end_lineno - node.lineno + 1  # type: ignore[operator]
        for path in (PACKAGE / "store.py", PACKAGE / "lifecycle.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef) and node.name in ("AioKV", "Lifecycle")
    )
    assert store <= MAX_STORE_LINES


def test_the_checker_sees_an_import_the_row_does_not_allow_and_taken_insides() -> None:
    # The rules must be able to fail: layers.py's row allows changelog and
    # codec; this text imports storage too, and codec's insides.
    source = "from . import codec, storage\nfrom .codec import _walk\nfrom .changelog import X\n"
    found, insides = imports_of(source, "aiokv.layers")
    assert found == {"aiokv.codec", "aiokv.storage", "aiokv.changelog"}
    assert found - table()["aiokv.layers"] == {"aiokv.storage"}
    assert insides == {"aiokv.codec._walk"}
    found, _ = imports_of(
        "from ..codec import encode\nfrom .codes import EXIT_OK\n", "aiokv.cli.reads"
    )
    assert found == {"aiokv.codec", "aiokv.cli.codes"}
