"""The command line's grammar: the subcommands, their arguments, and one-line usage errors."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .. import __version__, codec
from .codes import EXIT_USAGE
from .copy import copy_command
from .reads import check_command, dump_command, get_command, keys_command
from .writes import delete_command, load_command, set_command

MAX_INDENT = 16  # dump --indent: wider is no easier to read, and a huge one exhausts memory
DEFAULT_INDENT = 2  # dump --indent's default: two spaces a level


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and then the error; the command promises one line.
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"aiokv: {message} (see {self.prog} --help)\n")


def _number(kind: Callable[[str], float], low: float, high: float, what: str) -> Any:
    # An option's number, refused unless within [low, high] (NaN never is).
    def parse(text: str) -> float:
        try:
            number = kind(text)
        except ValueError:
            number = math.nan
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}")
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar: every subcommand and its arguments."""
    parser = _Parser(
        prog="aiokv",
        description="Read, change and check an aiokv state file; copy a store to or from Redis.",
        epilog="Exit codes: 0 ok, 1 key absent, 2 bad argument or value, 3 file owned by "
        "another process, 4 file corrupt or of an unknown schema version, 5 OS error "
        "(missing file, permissions) or Redis server unreachable. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"aiokv {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("file", metavar="FILE", help="the state file")
        sub.set_defaults(run=run)
        return sub

    get = command("get", get_command, "print the value of KEY as JSON (exit 1 if absent)")
    get.add_argument("key", metavar="KEY")
    keys = command("keys", keys_command, "print the keys, one a line, in the file's order")
    keys.add_argument("--prefix", default="", help="only the keys that start with P")
    dump = command("dump", dump_command, "print the whole state as JSON, keys sorted (for diffs)")
    dump.add_argument(
        "--indent",
        type=_number(int, 0, MAX_INDENT, f"an integer from 0 to {MAX_INDENT}"),
        default=DEFAULT_INDENT,
        metavar="N",
        help=f"N spaces, up to {MAX_INDENT} (default {DEFAULT_INDENT}; 0: one line)",
    )
    command("check", check_command, "report the file's health (exit 0 if healthy)")

    set_ = command("set", set_command, "store VALUE at KEY (a JSON value; omitted: the unix time)")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE", nargs="?", help="JSON, e.g. 42, '\"text\"', '[1]'")
    set_.add_argument("--string", action="store_true", help="store VALUE verbatim as a string")
    delete = command("delete", delete_command, "remove KEY (exit 1 if it was absent)")
    delete.add_argument("key", metavar="KEY")
    load = command("load", load_command, "import a JSON object's keys: all of them, or none")
    load.add_argument("source", metavar="SOURCE", nargs="?", help="a JSON file (default: stdin)")
    load.add_argument(
        "--replace", action="store_true", help="replace the whole state with the object"
    )
    copy = _copy_parser(commands)
    for writer in (set_, delete, load, copy):
        writer.add_argument(
            "--wait",
            type=_number(float, 0, sys.float_info.max, "a finite number of seconds >= 0"),
            default=0.0,
            metavar="SECONDS",
            help="if another process owns the file, wait up to SECONDS for it (default: 0)",
        )
    return parser


def _copy_parser(commands: argparse._SubParsersAction[_Parser]) -> _Parser:
    # The one command on two stores, neither of them FILE.
    copy = commands.add_parser(
        "copy",
        help="copy a whole store to another: file or Redis, all keys or none",
        description="Copy every key of SOURCE into DEST, all of them or none. Either is a "
        "state file or a Redis store written redis://HOST:PORT/DB?name=NAME (rediss:// for "
        "TLS; a password as redis://:PASSWORD@HOST...). DEST must be empty unless --replace.",
    )
    copy.add_argument("source", metavar="SOURCE", help="a state file or redis://...?name=NAME")
    copy.add_argument("dest", metavar="DEST", help="a state file or redis://...?name=NAME")
    copy.add_argument(
        "--replace", action="store_true", help="replace what DEST holds (default: refuse)"
    )
    copy.add_argument(
        "--version",
        type=_number(int, 0, codec.INT_MAX, "an integer from 0 to 2**64-1"),
        default=None,
        metavar="N",
        help="the schema version a file DEST records (default: SOURCE's; Redis has none)",
    )
    copy.set_defaults(run=copy_command)
    return copy
