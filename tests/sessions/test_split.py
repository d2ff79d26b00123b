"""Splits: chronological order, reproducible random split, dedup, normal-only training."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from logad.sessions import SPLIT_SCHEMA, assign_split, attach_split, dedup_sessions, make_split, session_order
from tests.sessions.factory import ts


def _sessions(n: int, seed: int = 0, *, with_ties: bool = True) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = rng.integers(0, n // 2 if with_ties else 10 * n, size=n)  # many equal start times
    return pa.table({
        "session_id": [f"s{i:03d}" for i in rng.permutation(n)],
        "start_time": pa.array([ts(int(s)) for s in start], pa.timestamp("us")),
        "first_order": pa.array(rng.permutation(n) * 10, pa.int64()),
        "label": pa.array(rng.integers(0, 2, size=n), pa.int8()),
        "event_ids": [[f"e{j}" for j in range(int(k))] for k in rng.integers(1, 4, size=n)],
    })


def _by_split(seqs: pa.Table, split: pa.Table) -> dict[str, list[dict]]:
    info = {r["session_id"]: r for r in seqs.to_pylist()}
    out: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for r in split.to_pylist():
        out[r["split"]].append(info[r["session_id"]])
    return out


def test_chronological_split_never_puts_a_later_session_in_train():
    seqs = _sessions(60)
    split = assign_split(seqs, "chronological", (0.6, 0.2, 0.2))
    assert split.schema == SPLIT_SCHEMA
    parts = _by_split(seqs, split)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [36, 12, 12]
    key = lambda r: (r["start_time"], r["first_order"], r["session_id"])  # noqa: E731
    assert max(map(key, parts["train"])) < min(map(key, parts["val"]))
    assert max(map(key, parts["val"])) < min(map(key, parts["test"]))
    assert max(r["start_time"] for r in parts["train"]) <= min(r["start_time"] for r in parts["test"])


def test_session_order_breaks_ties_by_first_order_then_id_and_puts_no_time_last():
    seqs = pa.table({"session_id": ["c", "b", "a", "d"],
                     "start_time": pa.array([ts(5), ts(5), ts(5), None], pa.timestamp("us")),
                     "first_order": [2, 1, 2, 0]})
    assert seqs.column("session_id").take(pa.array(session_order(seqs))).to_pylist() == ["b", "a", "c", "d"]


def test_random_split_is_reproducible_from_the_seed_and_independent_of_row_order():
    seqs = _sessions(80)
    a = assign_split(seqs, "random", (0.5, 0.25, 0.25), seed=7)
    shuffled = seqs.take(pa.array(np.random.default_rng(1).permutation(seqs.num_rows)))
    b = assign_split(shuffled, "random", (0.5, 0.25, 0.25), seed=7)
    as_map = lambda t: dict(zip(t["session_id"].to_pylist(), t["split"].to_pylist()))  # noqa: E731
    assert as_map(a) == as_map(b)
    c = assign_split(seqs, "random", (0.5, 0.25, 0.25), seed=8)
    assert as_map(a) != as_map(c)
    assert sorted(as_map(a).values()).count("train") == 40


def test_bad_split_arguments():
    seqs = _sessions(10)
    with pytest.raises(ValueError, match="fractions"):
        assign_split(seqs, "chronological", (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="random"):
        assign_split(seqs, "alphabetical")


def test_dedup_keeps_the_first_in_session_order_and_counts_removed():
    seqs = pa.table({
        "session_id": ["late", "early", "other", "mid"],
        "start_time": pa.array([ts(9), ts(1), ts(2), ts(5)], pa.timestamp("us")),
        "first_order": [4, 1, 2, 3],
        "event_ids": [["a", "b"], ["a", "b"], ["b", "a"], ["a", "b"]],
    })
    kept, removed = dedup_sessions(seqs)
    assert removed == 2
    assert kept.column("session_id").to_pylist() == ["early", "other"]


def test_make_split_with_dedup_and_train_normal_only():
    seqs = _sessions(100, seed=3)
    n_unique = len({tuple(x) for x in seqs.column("event_ids").to_pylist()})
    split, stats = make_split(seqs, fracs=(0.7, 0.1, 0.2), dedup=True, train_normal_only=True)
    assert stats["duplicates_removed"] == 100 - n_unique
    labels = dict(zip(seqs["session_id"].to_pylist(), seqs["label"].to_pylist()))
    train = [s for s, p in zip(split["session_id"].to_pylist(), split["split"].to_pylist()) if p == "train"]
    assert train and all(labels[s] != 1 for s in train)
    assert stats["train_anomalous_dropped"] > 0
    assert stats["sessions_out"] == n_unique - stats["train_anomalous_dropped"] == split.num_rows
    assert sum(v["sessions"] for v in stats["splits"].values()) == split.num_rows
    # val/test keep their anomalies
    plain, _ = make_split(seqs, fracs=(0.7, 0.1, 0.2), dedup=True)
    test_ids = lambda t: sorted(s for s, p in zip(t["session_id"].to_pylist(), t["split"].to_pylist()) if p == "test")  # noqa: E731
    assert test_ids(plain) == test_ids(split)


def test_attach_split_sets_the_column_and_drops_sessions_out_of_the_run():
    seqs = _sessions(6).append_column("split", pa.nulls(6, pa.string()))
    split = assign_split(seqs, fracs=(0.5, 0.0, 0.5)).slice(0, 5)
    out = attach_split(seqs, split)
    assert out.num_rows == 5 and out.schema.field("split").type == pa.string()
    assert dict(zip(out["session_id"].to_pylist(), out["split"].to_pylist())) == \
        dict(zip(split["session_id"].to_pylist(), split["split"].to_pylist()))
