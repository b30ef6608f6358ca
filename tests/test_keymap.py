"""aiokv/keymap.py: each key's piece number, in shards, refitted after deletions."""

from __future__ import annotations

import gc
import sys

from aiokv.keymap import SHARDS, KeyMap


def test_keys_put_are_found_and_dropped_keys_are_not() -> None:
    keys = KeyMap()
    keys.put([f"k{i}" for i in range(5_000)], 7)
    keys.put(["k3"], 9)
    assert keys.get("k3") == 9 and keys.get("k4") == 7 and keys.get("nope") is None
    keys.drop("k4")
    assert keys.get("k4") is None and len(keys) == 4_999
    # Spread over the shards, each invisible to the garbage collector.
    assert sum(1 for shard in keys.shards if shard) > SHARDS // 2
    gc.collect()
    assert not any(gc.is_tracked(shard) for shard in keys.shards)


def test_refit_gives_back_the_room_of_deleted_keys_and_pauses_after_each_shard() -> None:
    # A dict keeps the table its deleted keys took: a map whose keys were
    # mostly deleted would hold room for keys long gone.
    keys = KeyMap()
    keys.put([f"k{i}" for i in range(50_000)], 1)
    full = sum(map(sys.getsizeof, keys.shards))
    for i in range(0, 50_000, 4):
        for j in range(i, i + 3):
            keys.drop(f"k{j}")
    assert sum(map(sys.getsizeof, keys.shards)) == full  # not given back by itself
    pauses: list[None] = []
    keys.refit(lambda: pauses.append(None))
    assert sum(map(sys.getsizeof, keys.shards)) < full * 0.5
    assert len(pauses) == SHARDS and len(keys) == 12_500 and keys.get("k3") == 1
    pauses.clear()
    keys.refit(lambda: pauses.append(None))
    assert not pauses  # nothing deleted since: nothing to refit
