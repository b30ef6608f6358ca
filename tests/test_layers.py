"""aiokv/layers.py: the state's two layers (and the prefix index they keep), pure.

Checked against a plain dict that takes the same operations: whatever the
layers hold, frozen or not, they answer as that dict does, in its order.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aiokv import codec
from aiokv.layers import GONE, Layers, fold

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["set", "set", "delete", "freeze", "unfreeze"]),
        st.integers(0, 8),
        st.integers(0, 9),
    ),
    max_size=80,
)


def store(layers: Layers, key: str, value: Any) -> None:
    """What the store's set() does with the layers."""
    assert layers.top is not None
    watched = layers.index is not None or layers.snapshot is not None
    if watched and layers.top.get(key, GONE) is GONE:
        layers.new_in_top(key)
    layers.top[key] = value
    layers.log.stored(key)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_the_layers_answer_as_one_dict_in_its_order(steps: list[tuple[str, int, int]]) -> None:
    model: dict[str, Any] = {}
    layers = Layers()
    layers.open({})
    for step, (op, n, value) in enumerate(steps):
        key = f"g{n % 3}:k{n}"
        if op == "set":
            store(layers, key, value)
            model[key] = value
        elif op == "delete":
            assert layers.remove(key) is (key in model)
            model.pop(key, None)
        elif op == "freeze" and layers.snapshot is None:
            snapshot, _, _ = layers.freeze()
            assert list(snapshot.items()) == list(model.items())
        elif op == "unfreeze":
            layers.unfreeze()
        assert list(layers.view().items()) == list(model.items())
        assert layers.count() == len(model)
        assert list(layers.copy().items()) == list(model.items())
        assert layers.lookup(key) == model.get(key, codec.MISSING)
        if step % 5 == 0:  # a namespace listing now and then: the index, kept from then on
            assert list(layers.keys_under("g1:")) == [k for k in model if k.startswith("g1:")]
        assert list(layers.keys_under("g2")) == [k for k in model if k.startswith("g2")]
    layers.unfreeze()
    assert layers.top == model and list(layers.top) == list(model)


def test_a_key_deleted_and_stored_during_a_write_goes_to_the_end() -> None:
    layers = Layers()
    layers.open({"a": 1, "b": 2, "c": 3})
    layers.freeze()
    assert layers.remove("a")
    store(layers, "a", 9)
    assert list(layers.view()) == ["b", "c", "a"] and layers.log.dropped == {"a"}
    layers.unfreeze()
    assert list(layers.top or {}) == ["b", "c", "a"]


def test_empty_forgets_the_state_and_the_log_and_a_write_under_way_keeps_its_snapshot() -> None:
    layers = Layers()
    layers.open({"a": 1})
    snapshot, _, _ = layers.freeze()
    store(layers, "b", 2)
    layers.empty()
    assert layers.view() == {} and snapshot == {"a": 1} and layers.log.take() == ({}, set())
    layers.unfreeze()  # the write that held the old snapshot ends: nothing folds back
    assert layers.top == {}


def test_copy_from_another_thread_is_consistent_while_the_loop_swaps() -> None:
    layers = Layers()
    layers.open({f"k{n}": n for n in range(100)})
    stop, torn = threading.Event(), []

    def copier() -> None:
        while not stop.is_set():
            if len(layers.copy()) != 100:
                torn.append(1)

    thread = threading.Thread(target=copier)
    thread.start()
    for n in range(2000):
        layers.freeze()
        store(layers, f"k{n % 100}", -n)
        layers.unfreeze()
    stop.set()
    thread.join()
    assert torn == []


def test_fold_applies_a_top_layer_and_returns_the_keys_it_deleted() -> None:
    into = {"a": 1, "b": 2, "c": 3}
    assert fold({"b": GONE, "a": 5, "d": 4}, into, {"a"}) == ["b"]
    assert list(into.items()) == [("c", 3), ("a", 5), ("d", 4)]


def test_lookup_from_another_thread_never_misses_a_key_while_writes_swap_the_layers() -> None:
    # get() reads from any thread: a key that is present must be found even
    # when the read straddles a write's freeze or fold (it found nothing when
    # it read the top layer before a fold and the snapshot after it).
    layers = Layers()
    layers.open({"stable": "S", **{f"k{n}": n for n in range(200)}})
    stop, misses = threading.Event(), []

    def reader() -> None:
        while not stop.is_set():
            if layers.lookup("stable") is codec.MISSING:
                misses.append(1)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # thread switches between any two bytecodes, nearly
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(20_000):
            layers.freeze()
            store(layers, f"k{n % 200}", -n)
            layers.unfreeze()
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert misses == []
