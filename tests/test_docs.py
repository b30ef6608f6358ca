"""The README's code blocks and examples/bot.py run as written."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, read_json


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def run(args: list[str], cwd: Path) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    quickstart = next(b for b in python_blocks() if "async with AioKV" in b and "SIGTERM" not in b)
    run(["-c", quickstart], tmp_path)
    # It ends with clear(), which removes the file; the lock file stays.
    assert not (tmp_path / "state.json").exists()
    assert (tmp_path / "state.json.lock").exists()


def test_readme_migration_snippet_runs(tmp_path: Path) -> None:
    snippet = next(b for b in python_blocks() if "import aiocache" in b)
    run(["-c", snippet + "\nimport asyncio\nasyncio.run(kv.aclose())\n"], tmp_path)


def test_example_bot_remembers_across_runs(tmp_path: Path) -> None:
    bot = str(ROOT / "examples" / "bot.py")
    first = run([bot], tmp_path)
    assert "First run" in first
    saved = read_json(tmp_path / "bot-state.json")
    assert saved["runs"] == 1
    second = run([bot], tmp_path)
    assert "Run #2" in second
    assert repr(saved["last_command"]) in second
    assert str(saved["seen_ids"]) in second


def test_readme_sigterm_pattern_runs_as_written_and_keeps_the_workers_writes(
    tmp_path: Path,
) -> None:
    block = next(b for b in python_blocks() if "SIGTERM" in b)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.0)  # the workers have handled a few events each
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    saved = read_json(tmp_path / "state.json")
    assert sorted(saved) == [f"w{n}:handled" for n in range(4)]
    assert all(count >= 1 for count in saved.values())


def in_a_store(block: str, path: str = "state.json") -> str:
    """A program running a README block inside `async with AioKV(path) as kv:`."""
    body = textwrap.indent(block, " " * 8)
    return (
        "import asyncio\nfrom aiokv import AioKV\n\n"
        f"async def main():\n    async with AioKV({path!r}) as kv:\n        msg_id = 1\n{body}\n"
        "asyncio.run(main())\n"
    )


def test_readme_edit_and_namespace_blocks_run_as_written(tmp_path: Path) -> None:
    edit = next(b for b in python_blocks() if b.startswith("async with kv.edit"))
    namespaces = next(b for b in python_blocks() if 'kv.namespace("guild:42")' in b)
    # The results the block shows in comments are checked.
    namespaces, shown = re.subn(
        r"^(await .*?)  # ([\[{].*[\]}])$", r"assert (\1) == \2", namespaces, flags=re.M
    )
    assert shown == 2
    checks = (
        "assert await kv.get('seen_ids') == [1]\n"
        "assert await guild.keys() == []\n"  # the block ends with guild.clear()
        "await kv.namespace('guild:42').set('kept', 1)\n"
    )
    run(["-c", in_a_store(edit + namespaces + checks)], tmp_path)
    assert read_json(tmp_path / "state.json") == {"seen_ids": [1], "guild:42:kept": 1}


def test_readme_migration_block_runs_as_written_on_a_release_1_file(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "def migrate(" in b)
    (tmp_path / "state.json").write_text('{"prefix": "?", "command_log": ["ping", "help"]}')
    program = "import asyncio\nfrom aiokv import AioKV\n\nasync def main():\n"
    program += textwrap.indent(block, "    ") + "\nasyncio.run(main())\n"
    run(["-c", program], tmp_path)
    assert read_json(tmp_path / "state.json") == {
        "__aiokv__": {"version": 2},
        "settings": {"prefix": "?"},
        "commands": 2,
    }
    assert read_json(tmp_path / "state.json.v0.bak") == {
        "prefix": "?",
        "command_log": ["ping", "help"],
    }


def test_readme_version_record_example_is_what_aiokv_writes(tmp_path: Path) -> None:
    [example] = re.findall(r"```json\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    state = json.loads(example)
    del state["__aiokv__"]
    program = in_a_store(f"await kv.update({state!r})").replace(
        "AioKV('state.json')", "AioKV('state.json', version=2)"
    )
    run(["-c", program], tmp_path)
    assert (tmp_path / "state.json").read_text() == example


def test_example_guilds_keeps_every_update_across_runs(tmp_path: Path) -> None:
    guilds = str(ROOT / "examples" / "guilds.py")
    for n in (1, 2):
        out = run([guilds], tmp_path)
        assert f"Run #{n}: handled 60 messages" in out
        saved = read_json(tmp_path / "guilds-state.json")
        counts = {k: v for k, v in saved.items() if k.endswith(":commands")}
        assert sum(counts.values()) == 60 * n  # concurrent handlers lost no message
        for key, count in counts.items():
            history = saved[key.replace(":commands", ":history")]
            assert len(history) == min(5, count)  # and no edit of a history was lost


DOCS = sorted((ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize(
    ("page", "n"),
    [
        (page.name, n)
        for page in DOCS
        for n, _ in enumerate(re.findall(r"```python\n.*?```", page.read_text(), re.S))
    ],
)
def test_every_python_block_in_docs_runs_as_written(tmp_path: Path, page: str, n: int) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)
    run(["-c", blocks[n]], tmp_path)


def console_blocks(page: Path) -> list[list[tuple[str, list[str]]]]:
    """Each ```console block of page as (command, expected output lines) pairs."""
    blocks = []
    for text in re.findall(r"```console\n(.*?)```", page.read_text(), re.S):
        steps: list[tuple[str, list[str]]] = []
        for line in text.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.startswith("> ") and steps:  # a continued command
                steps[-1] = (steps[-1][0] + "\n" + line[2:], steps[-1][1])
            else:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def matches(expected: str, got: str) -> bool:
    """Whether an output line matches its documented form ("..." stands for anything)."""
    return re.fullmatch(".*".join(map(re.escape, expected.split("..."))), got) is not None


def test_every_console_example_in_the_cli_guide_runs_as_shown(tmp_path: Path) -> None:
    # Each block runs in one bash (so $? and background jobs work), in order,
    # in one directory; stderr is shown with stdout, as in a terminal.
    mark = "<<<aiokv-docs-step>>>"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    for steps in console_blocks(ROOT / "docs" / "cli.md"):
        script = "exec 2>&1\n" + "".join(
            f"{command}\n__rc=$?; echo '{mark}'; (exit $__rc)\n" for command, _ in steps
        )
        result = subprocess.run(
            ["bash", "-c", script + "wait\n"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        *outputs, rest = result.stdout.split(mark + "\n")
        assert len(outputs) == len(steps) and rest == "", result.stdout  # every step ran
        for (command, expected), got in zip(steps, outputs, strict=True):
            lines = got.splitlines()
            assert len(lines) == len(expected) and all(map(matches, expected, lines)), (
                f"$ {command}\nexpected:\n" + "\n".join(expected) + "\ngot:\n" + got
            )


def test_readme_aiokv_command_block_runs_as_written(tmp_path: Path) -> None:
    [block] = [
        b
        for b in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
        if "aiokv get" in b
    ]
    (tmp_path / "state.json").write_text('{"last_command": "ping", "guild:42:prefix": "?"}')
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        ["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('"ping"\nguild:42:prefix\n')
    assert "status: healthy" in result.stdout
    # The backup taken before the set and delete was loaded back over them.
    assert read_json(tmp_path / "state.json") == {"last_command": "ping", "guild:42:prefix": "?"}


def test_every_code_block_in_docs_is_of_a_kind_the_tests_run() -> None:
    # python blocks run as programs, console blocks step by step: any other
    # kind of block would be a promise no test keeps.
    for page in DOCS:
        kinds = set(re.findall(r"^```(\w*)\n.*?^```$", page.read_text(), re.M | re.S))
        assert kinds <= {"python", "console"}, (page.name, kinds)
        if "console" in kinds:
            assert page.name == "cli.md", f"{page.name}: console blocks run only in cli.md"


def test_readme_frameworks_block_runs(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "AioKVStorage(" in b)
    prelude = (
        "from aiogram import Dispatcher\n"
        "from telegram.ext import ApplicationBuilder\n"
        "TOKEN = '123456:offline'\n"
    )
    run(["-c", prelude + block + "assert app.persistence is not None\n"], tmp_path)
