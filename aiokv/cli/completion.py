"""Shell completion: a bash or zsh script generated from the command's own argparse grammar."""

from __future__ import annotations

import argparse
import shlex
import sys

from .codes import EXIT_OK

SHELLS = ("bash", "zsh")

# One shell function serves both shells: zsh runs bash's completion functions
# through its bashcompinit module, so the two scripts cannot drift apart. The
# function filters candidates by the typed prefix itself (zsh's compgen
# emulation does not), and its tables come from the parser, so a new option
# completes without an edit here.
_FUNCTION = r"""_aiokv() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local command='' options='' values='' choices='' word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) command=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $command in
%(cases)s
        *) return 0 ;;
    esac
    COMPREPLY=()
    # An option's value (seconds, a prefix, a number): nothing to offer.
    # Every command here succeeds: a shell under set -e (errexit) would
    # exit on a failing one, closing the terminal at a Tab.
    case " $values " in *" $prev "*) if [ -n "$prev" ]; then return 0; fi ;; esac
    case $cur in
        -*) choices=$options ;;
        *) if [ -z "$choices" ]; then
               # A FILE, SOURCE or DEST: a path (a redis:// URL is typed).
               # compopt fails outside a completion, and zsh may lack it.
               compopt -o filenames 2>/dev/null || :
               # A name a line, as compgen prints them (it fails on no match):
               # an unquoted $(compgen) would split names at spaces and expand
               # [, * and ? in them as globs against the directory.
               while IFS= read -r word; do
                   COMPREPLY+=("$word")
               done < <(compgen -f -- "$cur" || :)
               return 0
           fi ;;
    esac
    for word in $choices; do
        case $word in "$cur"*) COMPREPLY+=("$word") ;; esac
    done
    return 0
}
"""

_BASH = (
    '# aiokv completion for bash: eval "$(aiokv completion bash)"\n%s\ncomplete -F _aiokv aiokv\n'
)
_ZSH = """# aiokv completion for zsh: eval "$(aiokv completion zsh)"
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }
autoload -Uz bashcompinit && bashcompinit
%s
complete -o filenames -F _aiokv aiokv
"""


def completion_command(args: argparse.Namespace) -> int:
    """aiokv completion SHELL: print the completion script for bash or zsh."""
    function = _FUNCTION % {"cases": "\n".join(_cases(args.grammar))}
    sys.stdout.write((_BASH if args.shell == "bash" else _ZSH) % function)
    return EXIT_OK


def _cases(parser: argparse.ArgumentParser) -> list[str]:
    # The function's case arms: the command line before a subcommand ('')
    # and each subcommand, with its options, those taking a value, and the
    # words its positional arguments accept (none: paths).
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    arms = [_arm("''", parser, list(subcommands.choices))]
    for name, sub in subcommands.choices.items():
        choices = [str(c) for a in sub._actions if not a.option_strings for c in a.choices or ()]
        arms.append(_arm(shlex.quote(name), sub, choices))
    return arms


def _arm(pattern: str, parser: argparse.ArgumentParser, choices: list[str]) -> str:
    shown = [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]
    options = [o for a in shown for o in a.option_strings]
    values = [o for a in shown if a.nargs != 0 for o in a.option_strings]
    table = {"options": options, "values": values, "choices": choices}
    assignments = " ".join(f"{k}={shlex.quote(' '.join(v))}" for k, v in table.items())
    return f"        {pattern}) {assignments} ;;"
