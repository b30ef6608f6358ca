"""aiokv/index.py: the prefix index as a pure room, against a scan of the same keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aiokv.index import PrefixIndex, prefix_at


def test_prefix_at_is_the_key_up_to_its_nth_separator() -> None:
    assert prefix_at("g:1:u", 1) == "g:" and prefix_at("g:1:u", 2) == "g:1:"
    assert prefix_at("g:1:u", 3) is None and prefix_at("plain", 1) is None


def test_a_depth_is_indexed_once_then_kept_by_adds_and_discards() -> None:
    keys = ["g:1:a", "g:2:b", "x", "g:1:c"]
    walks: list[int] = []

    def every_key() -> list[str]:
        walks.append(1)
        return keys

    index = PrefixIndex()
    assert list(index.under("g:1:", every_key)) == ["g:1:a", "g:1:c"]
    index.add("g:1:d")
    index.add("g:1:a")  # already there: keeps its place
    index.discard("g:1:c")
    index.discard("g:9:z")  # absent is fine
    assert list(index.under("g:1:", every_key)) == ["g:1:a", "g:1:d"]
    assert list(index.under("g:", every_key)) == ["g:1:a", "g:2:b", "g:1:c"]
    assert len(walks) == 2  # one walk a depth
    index.discard("g:2:b")
    assert list(index.under("g:2:", every_key)) == []
    index.clear()
    assert list(index.under("g:", every_key)) == [] and len(walks) == 2


names = st.text(alphabet="ab:", max_size=6)


@given(st.lists(st.tuples(st.booleans(), names), max_size=40), st.lists(names, max_size=5))
def test_the_index_answers_what_a_scan_of_the_same_keys_answers(
    steps: list[tuple[bool, str]], prefixes: list[str]
) -> None:
    state: dict[str, None] = {}
    index = PrefixIndex()
    for n, (store, key) in enumerate(steps):
        if store:
            if key not in state:
                index.add(key)
            state[key] = None
        elif key in state:
            del state[key]
            index.discard(key)
        if n % 7 == 0:  # list now and then, so depths get indexed mid-way
            for prefix in (p + ":" for p in prefixes):
                assert list(index.under(prefix, lambda: list(state))) == [
                    k for k in state if k.startswith(prefix)
                ]
