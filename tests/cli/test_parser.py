"""aiokv/cli/parser.py: the command line's grammar, parsed in this process."""

from __future__ import annotations

import argparse
import sys

import pytest

from aiokv import codec
from aiokv.cli import EXIT_USAGE
from aiokv.cli.parser import DEFAULT_INDENT, MAX_INDENT, _number, build_parser


def test_a_number_within_its_range_is_taken_its_bounds_included() -> None:
    indent = _number(int, 0, MAX_INDENT, "an indent")
    assert [indent("0"), indent("7"), indent(str(MAX_INDENT))] == [0, 7, MAX_INDENT]
    version = _number(int, 0, codec.INT_MAX, "a version")
    assert version(str(codec.INT_MAX)) == codec.INT_MAX
    wait = _number(float, 0, sys.float_info.max, "seconds")
    assert wait("0") == 0.0 and wait("1e308") == 1e308 and wait("0.25") == 0.25


@pytest.mark.parametrize(
    ("kind", "high", "text"),
    [
        (int, MAX_INDENT, str(MAX_INDENT + 1)),
        (int, MAX_INDENT, "-1"),
        (int, MAX_INDENT, "2.5"),
        (int, MAX_INDENT, "two"),
        (int, codec.INT_MAX, str(codec.INT_MAX + 1)),
        (float, sys.float_info.max, "nan"),
        (float, sys.float_info.max, "inf"),
        (float, sys.float_info.max, "-inf"),
        (float, sys.float_info.max, "1e309"),
        (float, sys.float_info.max, "-0.5"),
        (float, sys.float_info.max, ""),
    ],
)
def test_a_number_outside_its_range_or_no_number_is_refused_naming_what_was_expected(
    kind: type, high: float, text: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        _number(kind, 0, high, "what it takes")(text)
    assert str(raised.value) == f"expected what it takes, not {text!r}"


def test_the_defaults() -> None:
    dump = build_parser().parse_args(["dump", "f"])
    assert dump.indent == DEFAULT_INDENT == 2
    copy = build_parser().parse_args(["copy", "a", "b"])
    assert (
        copy.schema_version is None
        and copy.old_version is None
        and copy.wait == 0.0
        and not copy.replace
    )
    assert not copy.create and not build_parser().parse_args(["keys", "f"]).json
    assert build_parser().parse_args(["set", "f", "k"]).value is None


def test_a_usage_error_is_one_line_naming_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["dump", "f", "--indent", "nan"])
    assert raised.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        "aiokv: argument --indent: expected an integer from 0 to 16, not 'nan' "
        "(see aiokv dump --help)\n"
    )
