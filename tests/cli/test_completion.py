"""`aiokv completion bash|zsh`: the printed script, sourced by a real bash and a real zsh."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from aiokv.cli.completion import completion_command
from aiokv.cli.parser import build_parser
from tests.cli.test_command import SCRIPT, aiokv

COMMANDS = ["get", "keys", "dump", "check", "set", "delete", "load", "copy", "completion"]

# (the words typed, the candidates offered), in a directory holding FILES:
# names holding a space and glob characters, which must complete as they are.
FILES = ["state.json", "spaced name.json", "sub/", "x[1].json", "x1.json", "a*b.json", "q?.json"]
CASES = [
    ("aiokv ", COMMANDS),
    ("aiokv ke", ["keys"]),
    ("aiokv c", ["check", "copy", "completion"]),
    ("aiokv --v", ["--version"]),
    ("aiokv keys --", ["--help", "--prefix", "--json"]),
    ("aiokv check --", ["--help", "--json"]),
    ("aiokv set state.json k --c", ["--create"]),
    ("aiokv copy --s", ["--schema-version"]),  # its old name, --version, is hidden
    ("aiokv load --", ["--help", "--replace", "--schema-version", "--create", "--wait"]),
    ("aiokv delete --", ["--help", "--wait"]),
    ("aiokv completion ", ["bash", "zsh"]),
    ("aiokv keys s", ["spaced name.json", "state.json", "sub"]),
    ("aiokv copy state.json s", ["spaced name.json", "state.json", "sub"]),
    ("aiokv get x[", ["x[1].json"]),  # not x1.json, which [1] matches as a glob
    ("aiokv get x", ["x[1].json", "x1.json"]),
    ("aiokv get a*", ["a*b.json"]),
    ("aiokv get q?", ["q?.json"]),
    ("aiokv get zzz", []),
    ("aiokv set --wait ", []),  # an option's value: nothing to offer
    ("aiokv dump state.json --indent ", []),
    ("aiokv load state.json --schema-version ", []),
    ("aiokv nope ", []),
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for name in FILES:
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text("{}")
    return tmp_path


def script(shell: str) -> str:
    printed = aiokv("completion", shell)
    assert printed.returncode == 0 and printed.stderr == "", printed.stderr
    return str(printed.stdout)


def test_the_script_is_printed_for_each_shell_and_only_those() -> None:
    assert "complete -F _aiokv aiokv" in script("bash")
    assert "bashcompinit" in script("zsh")
    refused = aiokv("completion", "fish")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


BASH_DRIVER = """
eval "$(aiokv completion bash)"
complete -p aiokv
while IFS= read -r line; do
    read -r -a COMP_WORDS <<< "$line"
    case $line in *" ") COMP_WORDS+=("") ;; esac
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _aiokv
    printf '%s\\n' "${COMPREPLY[@]}" | sort | tr '\\n' '|'
    echo
done
"""


def test_bash_completes_commands_options_and_paths(home: Path) -> None:
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER],
        input="".join(typed + "\n" for typed, _ in CASES),
        cwd=home,
        env={**os.environ, "PATH": f"{Path(SCRIPT).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    registered, *offers = result.stdout.splitlines()
    assert registered == "complete -F _aiokv aiokv"
    for (typed, expected), got in zip(CASES, offers, strict=True):
        assert sorted(filter(None, got.split("|"))) == sorted(expected), typed


# The zsh side drives an interactive zsh on a pseudo-terminal (zsh/zpty), types
# each line and a Tab, and records what compadd is given: zsh's own completion
# system runs the script, as in a terminal.
ZSH_DRIVER = textwrap.dedent(
    """
    zmodload zsh/zpty
    for typed in "${(@f)$(<&0)}"; do
        zpty z 'zsh -f -i'
        zpty -w z 'autoload -Uz compinit && compinit -u -D'
        zpty -w z 'eval "$(aiokv completion zsh)"'
        zpty -w z 'compadd () { builtin compadd -O hits "$@"; print -n -- "<<${(j:|:)hits}>>" }'
        zpty -w z "bindkey '^I' complete-word"
        zpty -w z "PROMPT='RE''ADY> '"
        zpty -w z 'print SET${:-UP}'
        zpty -r z out '*SETUP*'
        # Keys typed before the line editor takes the terminal may be dropped.
        zpty -r z out '*READY> *'
        zpty -n -w z "$typed"$'\\t'
        zpty -n -w z $'\\x15'
        zpty -w z 'print END${:-MARK}'
        zpty -r z out '*ENDMARK*'
        zpty -d z
        found=( ${(M)${(s:>>:)${out//$'\\r'/}}:#*<<*} )
        print -r -- "${(j:|:)${found[@]#*<<}}"
    done
    """
)


def test_zsh_completes_commands_options_and_paths(home: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: apt-get install zsh")
    result = subprocess.run(
        ["zsh", "-f", "-c", ZSH_DRIVER],
        # Typed as a zsh user must, where a bare [, * or ? is a glob.
        input="".join(re.sub(r"([\[*?])", r"\\\1", typed) + "\n" for typed, _ in CASES),
        cwd=home,
        env={**os.environ, "PATH": f"{Path(SCRIPT).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    offers = result.stdout.splitlines()
    for (typed, expected), got in zip(CASES, offers, strict=True):
        # zsh shows a directory's name without its slash; compadd is given each once.
        assert sorted(filter(None, got.split("|"))) == sorted(expected), typed


@pytest.mark.parametrize("option", ["-e", "-u", "-eu"])
def test_bash_under_errexit_and_nounset_survives_every_completion(home: Path, option: str) -> None:
    # An interactive shell with set -e exits when a completion function's
    # command fails: a Tab with no match closed the terminal.
    words = [
        "aiokv get zzz",
        "aiokv get sub/",
        "aiokv get x[",
        "aiokv dump f --indent ''",
        "aiokv keys --zz",
        "aiokv nope ''",
        "aiokv ''",
    ]
    calls = "".join(
        f"COMP_WORDS=({typed}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=(); _aiokv\n"
        for typed in words
    )
    result = subprocess.run(
        [
            "bash",
            "--norc",
            "--noprofile",
            option,
            "-c",
            f'eval "$(aiokv completion bash)"\n{calls}echo survived',
        ],
        cwd=home,
        env={**os.environ, "PATH": f"{Path(SCRIPT).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "survived\n", "")


def test_the_tables_come_from_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    # A new option or command completes without an edit of the completion code.
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands.choices["keys"].add_argument("--limit", type=int)
    extra = commands.add_parser("stats")
    extra.add_argument("--hidden", help=argparse.SUPPRESS)
    completion_command(argparse.Namespace(grammar=parser, shell="bash"))
    printed = capsys.readouterr().out
    assert "keys) options='-h --help --prefix --json --limit' values='--prefix --limit'" in printed
    assert "stats) options='-h --help'" in printed and "--hidden" not in printed
    assert "completion stats'" in printed  # the command names
