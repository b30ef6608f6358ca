"""Campaign 9: hostile values at set(), hostile files at open.

Part 1. Hypothesis builds values from JSON types mixed with what must be
refused (enums and other subclasses, NaN and infinities, integers beyond 64
bits, tuples, bytes, sets), nested to random depths around the limit, and
now and then a cycle. An independent oracle here says whether each value is
faithful; set() must accept exactly those (storing tuples as lists) and
refuse the rest with TypeError or ValueError, changing nothing. After a
reopen every accepted value comes back equal, types included.

Part 2. Files written by other writers (the standard library's json, with
spaces) holding integers around the 64-bit edges and nesting around the
limit: the store must open exactly those it can write back, give the values
the standard library reads, and refuse the others, leaving the file
byte-identical.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiokv import AioKV, CorruptFileError
from tests.faults.common import LONG, Result, Timer

INT_MIN, INT_MAX = -(2**63), 2**64 - 1
MAX_DEPTH = 253  # containers a value may nest (the state object makes 254)


class Level(enum.IntEnum):
    LOW = 1


class Mode(str, enum.Enum):
    ON = "on"


class Text(str):
    pass


class Number(int):
    pass


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(INT_MIN, INT_MAX),
    st.integers(INT_MAX + 1, 2**70) | st.integers(-(2**70), INT_MIN - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from([Level.LOW, Mode.ON, Text("t"), Number(3), b"b", frozenset({1})]),
)


def values() -> st.SearchStrategy[Any]:
    """Values of every kind, nested; some wrapped to a depth near the limit."""
    tree = st.recursive(
        LEAVES,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.tuples(inner, inner)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            | st.dictionaries(st.sampled_from([Mode.ON, Text("k")]), inner, max_size=1)
        ),
        max_leaves=8,
    )
    return st.tuples(tree, st.sampled_from([0, 0, 0, 250, 251, 252, 253, 254, 300]), st.booleans())


def wrap(value: Any, depth: int, cyclic: bool) -> Any:
    """value under depth more lists, or inside a cycle."""
    if cyclic and depth == 300:
        loop: list[Any] = [value]
        loop.append(loop)
        return loop
    for _ in range(depth):
        value = [value]
    return value


def depth_of(value: Any) -> int:
    if type(value) in (dict, list, tuple):
        inner = value.values() if type(value) is dict else value
        return 1 + max((depth_of(v) for v in inner), default=0)
    return 0


def faithful(value: Any, seen: frozenset[int] = frozenset()) -> bool:
    """The oracle: exact JSON types, 64-bit integers, finite floats, no cycle."""
    kind = type(value)
    if value is None or kind in (bool, str):
        return kind is not str or not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if kind is int:
        return INT_MIN <= value <= INT_MAX
    if kind is float:
        return math.isfinite(value)
    if kind in (list, tuple, dict):
        if id(value) in seen:
            return False
        inner = value.values() if kind is dict else value
        keys_ok = kind is not dict or all(type(k) is str and faithful(k) for k in value)
        return keys_ok and all(faithful(v, seen | {id(value)}) for v in inner)
    return False


def as_stored(value: Any) -> Any:
    """What a faithful value is stored as: tuples become lists."""
    if type(value) in (list, tuple):
        return [as_stored(v) for v in value]
    if type(value) is dict:
        return {k: as_stored(v) for k, v in value.items()}
    return value


def same(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down (1 != 1.0 != True here)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)


def set_campaign(directory: Path, examples: int, result: Result) -> None:
    path = directory / "values.json"
    accepted: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    kv = AioKV(path, flush_delay=3600, max_flush_delay=3600, fsync=False)
    counter = iter(range(10**9))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(values())
    def one(drawn: tuple[Any, int, bool]) -> None:
        value = wrap(*drawn)
        good = faithful(value) and depth_of(value) <= MAX_DEPTH
        key = f"v{next(counter)}"
        try:
            loop.run_until_complete(kv.set(key, value))
        except (TypeError, ValueError) as e:
            ok = not good and key in str(e) and not loop.run_until_complete(kv.has(key))
            result.case(ok, f"refused a faithful value ({e}): {drawn!r:.200}")
            return
        stored = as_stored(value)
        accepted[key] = stored
        got = loop.run_until_complete(kv.get(key))
        result.case(good and same(got, stored), f"accepted {drawn!r:.200} as {got!r:.200}")

    try:
        one()
        loop.run_until_complete(kv.aclose())

        async def reopen() -> dict[str, Any]:
            async with AioKV(path) as again:
                return await again.get_all()

        back = loop.run_until_complete(reopen())
        lost = [k for k in accepted if not same(back.get(k), accepted[k])]
        result.case(not lost, f"not the same after a reopen: {lost[:5]}", lost=len(lost))
        on_disk = json.loads(path.read_bytes()) if path.exists() else {}
        result.case(on_disk == accepted, "the file, read by json, differs from what was set")
    finally:
        loop.close()


def file_cases() -> list[tuple[bytes, bool]]:
    """(file bytes as another writer wrote them, whether aiokv can write it back)."""
    cases = []
    for number in (INT_MAX, INT_MAX + 1, INT_MIN, INT_MIN - 1, 10**19, -(10**19), 10**30, 2**63):
        good = INT_MIN <= number <= INT_MAX
        cases.append((json.dumps({"n": number, "s": str(number) * 2}, indent=2).encode(), good))
        cases.append((json.dumps({"deep": {"list": [1, [2, number]]}}).encode(), good))
    for levels in (250, 252, 253, 254, 255, 300, 1000):
        text = '{"a": 1, "deep": ' + "[" * levels + "]" * levels + "}"
        cases.append((text.encode(), levels <= MAX_DEPTH))
    cases.append((b'{"f": 1e400}', False))  # orjson refuses infinity on read
    cases.append((b'{"f": 12345678901234567890.5, "i": 1}', True))  # a float: exact enough
    return cases


def file_campaign(directory: Path, result: Result) -> None:
    for n, (raw, good) in enumerate(file_cases()):
        path = directory / f"file{n}.json"
        path.write_bytes(raw)

        async def open_and_write(path: Path = path) -> dict[str, Any]:
            async with AioKV(path) as kv:
                everything = await kv.get_all()
                await kv.set("touched", True)
                return everything

        try:
            got = asyncio.run(open_and_write())
        except CorruptFileError as e:
            ok = not good and path.read_bytes() == raw and str(path) in str(e)
            result.case(ok, f"file {raw[:80]!r}: refused ({e})")
            continue
        expected = json.loads(raw)
        rewritten = json.loads(path.read_bytes())
        rewritten.pop("touched")
        ok = good and same(got, expected) and same(rewritten, expected)
        result.case(ok, f"file {raw[:80]!r}: opened as {str(got)[:80]}")


def run(long: bool = LONG) -> Result:
    """Hostile values at set() (Hypothesis) and hostile files at open."""
    result = Result("hostile values and files")
    examples = 20_000 if long else 1_500
    directory = Path(tempfile.mkdtemp(prefix="aiokv-values-"))
    try:
        with Timer(result):
            set_campaign(directory, examples, result)
            file_campaign(directory, result)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(
        f"{examples:,} drawn values (JSON types mixed with enums, subclasses, NaN, "
        f"64-bit edges, tuples, depths 250-300, cycles); {len(file_cases())} files from "
        "other writers"
    )
    return result
