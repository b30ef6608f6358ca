"""Fail unless each package .ci/lowest.txt pins is installed at that version.

Run by .ci/run's lowest-versions job with that venv's python:
`python .ci/lowest.py [--except NAME ...]` checks every pin but those named.
The pins must also be the floors aiokv declares (its installed metadata:
pyproject.toml's dependencies and extras), one each, so the job tests the
floors users get.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path


def name(requirement: str) -> str:
    """A distribution's name, normalized (PEP 503)."""
    return re.sub(r"[-_.]+", "-", requirement).lower()


pins = dict(
    re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()  # type: ignore[union-attr]
    for line in Path(__file__).with_name("lowest.txt").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
)
floors = {}
for requirement in importlib.metadata.requires("aiokv") or []:
    found = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", requirement)
    assert found, f"aiokv requires {requirement!r}: not a floor (NAME>=VERSION)"
    floors[name(found[1])] = found[2]

problems = []
if {name(p) for p in pins} != set(floors):
    problems.append(f"lowest.txt pins {sorted(pins)}, aiokv declares floors {sorted(floors)}")
skipped = {name(arg) for arg in sys.argv[1:] if arg != "--except"}
for dist, pinned in pins.items():
    floor = floors.get(name(dist), pinned)
    if floor != pinned:
        problems.append(f"{dist}: lowest.txt pins {pinned}, pyproject.toml's floor is {floor}")
    installed = importlib.metadata.version(dist)
    if name(dist) in skipped:
        print(f"{dist}=={installed} (its floor, {pinned}, is not checked here)")
    elif installed != pinned:
        problems.append(f"{dist} {installed} is installed, not the floor {pinned}")
    else:
        print(f"{dist}=={installed}")
for problem in problems:
    print("lowest:", problem, file=sys.stderr)
sys.exit(1 if problems else 0)
