"""The command line's grammar: the subcommands, their arguments, and one-line usage errors."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .. import __version__, codec
from .codes import EXIT_USAGE, TRACEBACK_VARIABLE
from .completion import SHELLS, completion_command
from .copy import copy_command
from .locations import PASSWORD_VARIABLE
from .reads import check_command, dump_command, get_command, keys_command
from .writes import delete_command, load_command, set_command

WRITES = ("set", "delete", "load")  # FILE is a state file's path; a read's may be Redis
MAX_INDENT = 16  # dump --indent: wider is no easier to read, and a huge one exhausts memory
DEFAULT_INDENT = 2  # dump --indent's default: two spaces a level


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations (--cr for --create), here and in every subcommand's
        # parser (made by this class): a script using one would break the day
        # an option starting the same way is added.
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

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
        description="Read, change and check an aiokv state file; read a Redis store "
        "(redis://HOST:PORT/DB?name=NAME) as well; copy a store to or from Redis.",
        epilog="Exit codes: 0 ok, 1 key absent, 2 bad argument or value (or a write to a "
        "path where no store is, without --create), 3 file owned by another process, "
        "4 store corrupt or of an unknown schema version, 5 OS error (missing file, "
        "permissions) or Redis server unreachable, 70 internal error (a bug: "
        f"{TRACEBACK_VARIABLE}=1 shows its traceback), 130 interrupted. "
        f"{PASSWORD_VARIABLE}: the Redis password, for a URL that holds none "
        "(argv is visible in ps). See https://aiokv.readthedocs.io/en/stable/cli/",
    )
    parser.add_argument("--version", action="version", version=f"aiokv {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        what = "the state file" if name in WRITES else "a state file or redis://...?name=NAME"
        sub.add_argument("file", metavar="FILE", help=what)
        sub.set_defaults(run=run)
        return sub

    get = command("get", get_command, "print the value of KEY as JSON (exit 1 if absent)")
    get.add_argument("key", metavar="KEY")
    keys = command("keys", keys_command, "print the keys, one a line, in the store's order")
    keys.add_argument("--prefix", default="", metavar="P", help="only the keys that start with P")
    keys.add_argument(
        "--json",
        action="store_true",
        help="one JSON array of strings, on one line (default: a key a line; a key "
        "holding a control character, or starting with '\"', as a JSON string)",
    )
    dump = command("dump", dump_command, "print the whole state as JSON, keys sorted (for diffs)")
    dump.add_argument(
        "--indent",
        type=_number(int, 0, MAX_INDENT, f"an integer from 0 to {MAX_INDENT}"),
        default=DEFAULT_INDENT,
        metavar="N",
        help=f"N spaces, up to {MAX_INDENT} (default {DEFAULT_INDENT}; 0: one line)",
    )
    check = command("check", check_command, "report the store's health (exit 0 if healthy)")
    check.add_argument("--json", action="store_true", help="the report as one JSON object")

    set_ = command("set", set_command, "store VALUE at KEY (a JSON value; omitted: the unix time)")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument(
        "value", metavar="VALUE", nargs="?", help="JSON, e.g. 42, '\"text\"', '[1]'; -: stdin"
    )
    set_.add_argument("--string", action="store_true", help="store VALUE verbatim as a string")
    delete = command("delete", delete_command, "remove KEY (exit 1 if it was absent)")
    delete.add_argument("key", metavar="KEY")
    load = command("load", load_command, "import a JSON object's keys: all of them, or none")
    load.add_argument("source", metavar="SOURCE", nargs="?", help="a JSON file; - or none: stdin")
    load.add_argument(
        "--replace", action="store_true", help="replace the whole state with the object"
    )
    schema_version_option(load, "the file's own; a new file: none")
    copy = _copy_parser(commands)
    _writer_options(set_, delete, load, copy)
    shells = commands.add_parser(
        "completion",
        help="print the shell completion script for bash or zsh",
        description='Print a completion script: eval "$(aiokv completion bash)" in ~/.bashrc, '
        'or eval "$(aiokv completion zsh)" in ~/.zshrc.',
    )
    shells.add_argument("shell", metavar="SHELL", choices=SHELLS, help=" or ".join(SHELLS))
    shells.set_defaults(run=completion_command, grammar=parser)
    return parser


def _writer_options(set_: _Parser, delete: _Parser, load: _Parser, copy: _Parser) -> None:
    # The options every write takes: --create (where it makes a store) and --wait.
    for creator in (set_, load, copy):
        creator.add_argument(
            "--create",
            action="store_true",
            help="make a new store if the file does not exist (default: refuse, exit 2)",
        )
    for writer in (set_, delete, load, copy):
        writer.add_argument(
            "--wait",
            type=_number(float, 0, sys.float_info.max, "a finite number of seconds >= 0"),
            default=0.0,
            metavar="SECONDS",
            help="if another process owns the file, wait up to SECONDS for it (default: 0)",
        )


_VERSION = _number(int, 0, codec.INT_MAX, "an integer from 0 to 2**64-1")


def schema_version_option(writer: _Parser, default: str) -> None:
    """--schema-version N, for a write that may make a file (load, copy): one meaning for both."""
    writer.add_argument(
        "--schema-version",
        type=_VERSION,
        default=None,
        metavar="N",
        help="the schema version the file written records, as AioKV(version=N): a file that "
        f"records another is refused, exit 4 (default: {default})",
    )


def _copy_parser(commands: argparse._SubParsersAction[_Parser]) -> _Parser:
    # The one command on two stores, neither of them FILE.
    copy = commands.add_parser(
        "copy",
        help="copy a whole store to another: file or Redis, all keys or none",
        description="Copy every key of SOURCE into DEST, all of them or none. Either is a "
        "state file or a Redis store written redis://HOST:PORT/DB?name=NAME (rediss:// for "
        f"TLS; a password as redis://:PASSWORD@HOST..., or in ${PASSWORD_VARIABLE}). DEST must "
        "be empty unless --replace; a file DEST must exist unless --create.",
    )
    copy.add_argument("source", metavar="SOURCE", help="a state file or redis://...?name=NAME")
    copy.add_argument("dest", metavar="DEST", help="a state file or redis://...?name=NAME")
    copy.add_argument(
        "--replace", action="store_true", help="replace what DEST holds (default: refuse)"
    )
    schema_version_option(copy, "SOURCE's; Redis has none")
    # Its old name, kept for scripts (with a note); hidden, as `aiokv --version`
    # prints the program's version.
    copy.add_argument("--version", dest="old_version", type=_VERSION, help=argparse.SUPPRESS)
    copy.set_defaults(run=copy_command)
    return copy
