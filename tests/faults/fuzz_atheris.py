"""atheris target: fileformat.decode returns a dict or raises CorruptFileError, nothing else.

python -m tests.faults.fuzz_atheris -runs=100000
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from aiokv import fileformat
    from aiokv.errors import CorruptFileError


def one_input(data: bytes) -> None:
    """Parse data as a state file; anything but a dict or CorruptFileError is a bug."""
    try:
        state = fileformat.decode(data, "fuzzed.json").state
    except CorruptFileError:
        return
    if type(state) is not dict:
        raise AssertionError(f"decode returned {type(state).__name__}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
