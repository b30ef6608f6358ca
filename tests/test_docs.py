"""The README's and the site's code blocks and the examples run as written; the
README's links lead to the site's pages, and what left the README has a page."""

from __future__ import annotations

import ast
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

DOCS_DIR = ROOT / "docs"


def python_blocks(page: str = "README.md") -> list[str]:
    """The python blocks of README.md, or of a page of docs/."""
    path = ROOT / page if page == "README.md" else DOCS_DIR / page
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def block(page: str, words: str) -> str:
    """The one python block of page that holds words."""
    [found] = [b for b in python_blocks(page) if words in b]
    return found


# Blocks that are fragments (they use a `kv` from around them), need a signal or
# a Redis server: each runs in a test of its own, which finds it by these words.
RUN_APART = {
    ("edit.md", "async with kv.edit("),
    ("namespaces.md", 'kv.namespace("guild:42")'),
    ("versions.md", "def migrate("),
    ("lifecycle.md", "SIGTERM"),
    ("migrating.md", "import aiocache"),
    # tests/redis/test_docs.py, each against the deployment it names:
    ("redis.md", '"mybot") as kv'),
    ("redis.md", 'name="guild:1"'),
    ("redis.md", "master_for("),
    ("redis.md", "RedisCluster("),
}


def run(args: list[str], cwd: Path) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    quickstart = block("README.md", "async with AioKV")
    run(["-c", quickstart], tmp_path)
    # It ends with clear(), which removes the file; the lock file stays.
    assert not (tmp_path / "state.json").exists()
    assert (tmp_path / "state.json.lock").exists()


def test_migrating_snippet_runs(tmp_path: Path) -> None:
    snippet = block("migrating.md", "import aiocache")
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


def test_sigterm_pattern_runs_as_written_and_keeps_the_workers_writes(tmp_path: Path) -> None:
    program = block("lifecycle.md", "SIGTERM")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-c", program], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.0)  # the workers have handled a few events each
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    saved = read_json(tmp_path / "state.json")
    assert sorted(saved) == [f"w{n}:handled" for n in range(4)]
    assert all(count >= 1 for count in saved.values())


def in_a_store(block: str, path: str = "state.json") -> str:
    """A program running a block inside `async with AioKV(path) as kv:`."""
    body = textwrap.indent(block, " " * 8)
    return (
        "import asyncio\nfrom aiokv import AioKV\n\n"
        f"async def main():\n    async with AioKV({path!r}) as kv:\n        msg_id = 1\n{body}\n"
        "asyncio.run(main())\n"
    )


def test_edit_and_namespace_blocks_run_as_written(tmp_path: Path) -> None:
    edit = block("edit.md", "async with kv.edit(")
    namespaces = block("namespaces.md", 'kv.namespace("guild:42")')
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


def test_migration_block_runs_as_written_on_a_release_1_file(tmp_path: Path) -> None:
    migration = block("versions.md", "def migrate(")
    (tmp_path / "state.json").write_text('{"prefix": "?", "command_log": ["ping", "help"]}')
    program = "import asyncio\nfrom aiokv import AioKV\n\nasync def main():\n"
    program += textwrap.indent(migration, "    ") + "\nasyncio.run(main())\n"
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


def test_version_record_example_is_what_aiokv_writes(tmp_path: Path) -> None:
    [example] = re.findall(r"```json\n(.*?)\n```", (DOCS_DIR / "versions.md").read_text(), re.S)
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


DOCS = sorted(DOCS_DIR.glob("*.md"))


def test_each_block_run_apart_is_one_block_of_its_page() -> None:
    for page, words in RUN_APART:
        block(page, words)  # exactly one, or the words no longer find it


@pytest.mark.parametrize(
    ("page", "n"),
    [
        (page.name, n)
        for page in DOCS
        for n, b in enumerate(python_blocks(page.name))
        if not any(page.name == p and words in b for p, words in RUN_APART)
    ],
)
def test_every_python_block_in_docs_runs_as_written(tmp_path: Path, page: str, n: int) -> None:
    run(["-c", python_blocks(page)[n]], tmp_path)


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
    assert read_json(tmp_path / "copy.json") == read_json(tmp_path / "state.json")


def test_every_code_block_in_docs_is_of_a_kind_the_tests_run() -> None:
    # python blocks run as programs, console blocks step by step, versions.md's
    # json block is checked against the file aiokv writes: any other kind of
    # block would be a promise no test keeps.
    for page in DOCS:
        kinds = set(re.findall(r"^```(\w*)\n.*?^```$", page.read_text(), re.M | re.S))
        assert kinds <= {"python", "console", "json"}, (page.name, kinds)
        if "console" in kinds:
            assert page.name == "cli.md", f"{page.name}: console blocks run only in cli.md"
        if "json" in kinds:
            assert page.name == "versions.md", (
                f"{page.name}: json blocks are checked in versions.md"
            )


SITE = "https://aiokv.readthedocs.io/en/stable/"


def slug(heading: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc slugify)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def nav_pages() -> set[str]:
    """The pages mkdocs.yml's nav lists (strict builds fail on any other page)."""
    return set(
        re.findall(r"^\s*- (?:[^:\n]+: )?([\w/-]+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    )


def test_every_readme_link_is_absolute_and_leads_to_a_page_of_the_site() -> None:
    # The README is the package index's front page: a relative link 404s there,
    # and a link to the site must name a page (and a heading) that exists.
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r"<(https?://[^>]+)>", readme)
    assert links
    for link in links:
        assert link.startswith("https://"), f"README link {link!r} is not absolute"
        if not link.startswith(SITE):
            continue
        path, _, anchor = link[len(SITE) :].partition("#")
        page = (path.strip("/") or "index") + ".md"
        assert (DOCS_DIR / page).exists() and page in nav_pages(), f"{link}: no page {page}"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", (DOCS_DIR / page).read_text(), re.M)
            assert anchor in map(slug, headings), f"{link}: no heading #{anchor} on {page}"


# Each section that left the README for the site, the page it went to, and a
# promise of it that page keeps word for word.
MOVED = {
    "Values": ("values.md", "A refused value never reaches\nthe file"),
    "Changing a dict or a list: `edit()`": ("edit.md", "Edits of one key take turns"),
    'Namespaces: `kv.namespace("guild:42")`': ("namespaces.md", "removes only its keys"),
    "Schema versions": ("versions.md", "a downgrade never silently eats data"),
    "The `aiokv` command, and store health": ("cli.md", "exit 130"),
    "store health: kv.stats()": ("guide.md", "`unsaved_for` (seconds the oldest change"),
    "Bot frameworks": ("integrations.md", "`import aiokv` never imports a framework"),
    "When you outgrow one process: `RedisKV`": ("redis.md", "Durability** is the server's"),
    "Guarantees, in plain words": ("guarantees.md", "never more, and never the file"),
    "Opening and closing": ("lifecycle.md", "it is undone only when all of them have given up"),
    "Performance and the cost model": ("performance.md", "every\nflush rewrites the whole file"),
    "Reliability": ("guarantees.md", "zero lost writes, zero\ncorrupt files"),
    "Errors": ("errors.md", "All of aiokv's own errors derive from `aiokv.AioKVError`"),
    "A damaged file at boot": ("errors.md", "Nothing is ever deleted."),
    "Knobs": ("knobs.md", "must be >= `flush_delay`"),
    "Forgetting `aclose()`, and SIGTERM": (
        "lifecycle.md",
        "the exit hook saves a consistent copy",
    ),
    "Migrating from `aiocache`": ("migrating.md", "This library was first called `aiocache`"),
}


@pytest.mark.parametrize("section", sorted(MOVED))
def test_what_left_the_readme_is_on_a_page_of_the_site(section: str) -> None:
    page, promise = MOVED[section]
    assert page in nav_pages()
    assert promise in (DOCS_DIR / page).read_text(), f"{section!r}: not on {page}"


def test_the_readme_keeps_what_its_front_page_needs() -> None:
    readme = (ROOT / "README.md").read_text()
    headings = re.findall(r"^## (.*)$", readme, re.M)
    for needed in ("Why", "Install", "Quickstart", "Scope", "Develop"):
        assert needed in headings
    assert "`python -m pytest`" in readme  # the test command CI holds the README to
    # The site's landing page includes these two sections of the README.
    for section in ("install", "quickstart"):
        assert f"<!-- --8<-- [start:{section}] -->" in readme
        assert f"<!-- --8<-- [end:{section}] -->" in readme
        assert f'--8<-- "README.md:{section}"' in (DOCS_DIR / "index.md").read_text()


def public_classes(module: Path) -> set[str]:
    """The classes a module of aiokv defines without an underscore, read from its source."""
    tree = ast.parse(module.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.name[0] != "_"}


def test_the_api_reference_shows_every_public_name() -> None:
    import aiokv

    shown = set(re.findall(r"^::: ([\w.]+)$", (DOCS_DIR / "api.md").read_text(), re.M))
    public = {f"aiokv.{name}" for name in aiokv.__all__}
    public |= {f"aiokv.{name}" for name in public_classes(ROOT / "aiokv" / "errors.py")}
    public.add("aiokv.redis.RedisKV")
    for module in (ROOT / "aiokv" / "integrations").glob("[!_]*.py"):
        public |= {f"aiokv.integrations.{module.stem}.{c}" for c in public_classes(module)}
    assert public <= shown, public - shown
