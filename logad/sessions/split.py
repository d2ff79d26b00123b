"""Train/validation/test splits of sessions, duplicate removal, normal-only training.

All functions take a table with at least ``session_id``, ``start_time``, ``first_order``,
``label`` (and ``event_ids`` or ``seq_hash`` for dedup): the full ``sequences`` table or the small
key table the runner collects on the driver.

*Session order* ("chronological"): ``start_time`` ascending (sessions without a time last), then
``first_order`` (the input position of their first line, which orders sessions that start in the
same second, as HDFS ones often do), then ``session_id``.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.schema import require_columns
from logad.sessions.schema import SPLIT_SCHEMA, SPLITS

__all__ = ["session_order", "sequence_hash", "dedup_sessions", "assign_split", "drop_train_anomalies",
           "make_split", "attach_split"]


def session_order(sequences: pa.Table) -> np.ndarray:
    """Row indices of ``sequences`` in session order (see module docstring)."""
    require_columns(sequences, ["session_id", "start_time", "first_order"], "sequences")
    keys = pa.table({"t": sequences.column("start_time"), "o": sequences.column("first_order"),
                     "s": sequences.column("session_id")})
    # nulls (no start time) sort last: the Arrow default
    return pc.sort_indices(keys, sort_keys=[("t", "ascending"), ("o", "ascending"),
                                            ("s", "ascending")]).to_numpy()


def sequence_hash(event_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A 128-bit BLAKE2b hex digest of each event-id list (equal lists, equal digests)."""
    joined = pc.binary_join(event_ids, "\x1f").fill_null("")
    return pa.array([hashlib.blake2b(s.encode("utf-8"), digest_size=16).hexdigest()
                     for s in joined.to_pylist()], pa.string())


def dedup_sessions(sequences: pa.Table) -> tuple[pa.Table, int]:
    """Drop sessions whose event-id sequence already appeared earlier in session order.

    Uses column ``seq_hash`` when present, else hashes ``event_ids``. Returns
    ``(kept rows in session order, number removed)``.

    >>> t = pa.table({"session_id": ["b", "a", "c"], "start_time": pa.array([1, 1, 2], pa.timestamp("s")),
    ...               "first_order": [1, 2, 3], "event_ids": [["x"], ["x"], ["y"]]})
    >>> kept, n = dedup_sessions(t)
    >>> kept.column("session_id").to_pylist(), n
    (['b', 'c'], 1)
    """
    ordered = sequences.take(pa.array(session_order(sequences)))
    h = ordered.column("seq_hash") if "seq_hash" in ordered.column_names \
        else sequence_hash(ordered.column("event_ids"))
    hashes = np.asarray(h.to_pylist(), dtype=object)
    _, first = np.unique(hashes, return_index=True)
    keep = np.zeros(len(hashes), dtype=bool)
    keep[first] = True
    return ordered.filter(pa.array(keep)), int(len(hashes) - keep.sum())


def _split_sizes(n: int, fracs: Sequence[float]) -> tuple[int, int, int]:
    if len(fracs) != 3 or any(f < 0 for f in fracs) or not np.isclose(sum(fracs), 1.0):
        raise ValueError(f"split fractions (train, val, test) must be 3 non-negative numbers "
                         f"summing to 1, got {tuple(fracs)}")
    n_val = int(round(n * fracs[1]))
    n_test = int(round(n * fracs[2]))
    return n - n_val - n_test, n_val, n_test


def assign_split(sequences: pa.Table, how: str = "chronological",
                 fracs: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0) -> pa.Table:
    """Give every session a split.

    Parameters
    ----------
    sequences : pyarrow.Table
        Needs ``session_id``, ``start_time``, ``first_order``.
    how : {"chronological", "random"}, default "chronological"
        ``"chronological"``: the earliest sessions (session order) are train, then val, then test,
        so no train session starts later than a val or test one. ``"random"``: a permutation of
        the sessions sorted by id, drawn with ``numpy.random.default_rng(seed)``, so the result
        depends only on the set of ids and the seed.
    fracs : (train, val, test), default (0.7, 0.1, 0.2)
        Sizes: ``round(n * val)`` and ``round(n * test)``; train gets the rest.
    seed : int, default 0
        Only for ``how="random"``.

    Returns
    -------
    pyarrow.Table
        :data:`SPLIT_SCHEMA` (``session_id``, ``split``), rows in session order.

    >>> t = pa.table({"session_id": ["a", "b"], "start_time": pa.array([2, 1], pa.timestamp("s")),
    ...               "first_order": [0, 0]})
    >>> assign_split(t, fracs=(0.5, 0.0, 0.5)).to_pylist()
    [{'session_id': 'b', 'split': 'train'}, {'session_id': 'a', 'split': 'test'}]
    """
    order = session_order(sequences)
    n = len(order)
    n_train, n_val, _ = _split_sizes(n, fracs)
    names = np.array([SPLITS[0]] * n_train + [SPLITS[1]] * n_val + [SPLITS[2]] * (n - n_train - n_val),
                     dtype=object)
    ids = sequences.column("session_id").take(pa.array(order))
    if how == "chronological":
        split = names
    elif how == "random":
        by_id = np.argsort(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object), kind="stable")
        perm = np.random.default_rng(seed).permutation(n)
        split = np.empty(n, dtype=object)
        split[by_id[perm]] = names
    else:
        raise ValueError(f"split must be 'chronological' or 'random', got {how!r}")
    return pa.table({"session_id": ids, "split": pa.array(split.tolist(), pa.string())},
                    schema=SPLIT_SCHEMA)


def drop_train_anomalies(split: pa.Table, labels: pa.Table) -> tuple[pa.Table, int]:
    """Remove train sessions labelled anomalous (label 1) from ``split``.

    ``labels`` has ``session_id`` and ``label``. Unlabelled (null) train sessions stay. The
    dropped sessions are *removed* from the run (not moved to val/test, which would change the
    test distribution). Returns ``(split without them, number dropped)``.
    """
    pos = pc.index_in(split.column("session_id"), value_set=labels.column("session_id"))
    lab = labels.column("label").take(pos)
    bad = pc.and_(pc.equal(split.column("split"), SPLITS[0]), pc.equal(lab, 1)).fill_null(False)
    return split.filter(pc.invert(bad)), int(pc.sum(bad.cast(pa.int64())).as_py() or 0)


def make_split(keys: pa.Table, *, how: str = "chronological", fracs: Sequence[float] = (0.7, 0.1, 0.2),
               seed: int = 0, dedup: bool = False, train_normal_only: bool = False
               ) -> tuple[pa.Table, dict]:
    """Dedup (optional), split, then drop train anomalies (optional).

    Returns ``(split table, stats)`` with stats ``sessions_in``, ``duplicates_removed``,
    ``train_anomalous_dropped``, ``sessions_out`` and per split ``{"sessions", "anomalous"}``.
    Sessions absent from the split table are out of the run.
    """
    require_columns(keys, ["session_id", "start_time", "first_order", "label"], "session keys")
    n_in = keys.num_rows
    n_dup = 0
    if dedup:
        keys, n_dup = dedup_sessions(keys)
    split = assign_split(keys, how, fracs, seed)
    n_drop = 0
    if train_normal_only:
        split, n_drop = drop_train_anomalies(split, keys)
    lab = keys.column("label").take(pc.index_in(split.column("session_id"), value_set=keys.column("session_id")))
    stats: dict = {"sessions_in": n_in, "duplicates_removed": n_dup, "train_anomalous_dropped": n_drop,
                   "sessions_out": split.num_rows, "splits": {}}
    for name in SPLITS:
        is_name = pc.equal(split.column("split"), name)
        stats["splits"][name] = {
            "sessions": int(pc.sum(is_name.cast(pa.int64())).as_py() or 0),
            "anomalous": int(pc.sum(pc.and_(is_name, pc.equal(lab, 1)).fill_null(False).cast(pa.int64())).as_py() or 0),
        }
    return split, stats


def attach_split(sequences: pa.Table, split: pa.Table) -> pa.Table:
    """Set ``sequences.split`` from ``split``; sessions not in ``split`` are dropped."""
    pos = pc.index_in(sequences.column("session_id"), value_set=split.column("session_id"))
    names = split.column("split").take(pos)
    if "split" in sequences.column_names:
        i = sequences.schema.get_field_index("split")
        out = sequences.set_column(i, pa.field("split", pa.string()), names)
    else:
        out = sequences.append_column(pa.field("split", pa.string()), names)
    return out.filter(pc.is_valid(names))
