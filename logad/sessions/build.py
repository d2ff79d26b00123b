"""Group parsed events into sessions: pure functions over ``pyarrow.Table`` (no Ray, no files).

The two steps are separate so the Ray runner can shuffle between them:

1. :func:`key_rows` gives each event its session key (``_session``), one row per key (a HDFS
   line naming two blocks becomes two rows), and returns the lines without a key as rejected rows.
2. :func:`build_sequences` turns keyed rows (complete sessions, any number of them) into
   ``sequences`` rows (:data:`logad.sessions.schema.SEQUENCES_SCHEMA`).

:func:`sessions_by_key` composes both for in-memory use.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.schema import REJECTED_SCHEMA, require_columns
from logad.sessions.schema import ERROR_LEVELS, EVENT_COLUMNS, REF_TYPE, SEQUENCES_SCHEMA

__all__ = ["SESSION_COL", "key_rows", "keyed_lines", "key_index", "no_key_reason", "build_sequences",
           "apply_session_labels",
           "sessions_by_key", "rejected_rows", "group_offsets"]

#: Column holding the session key between :func:`key_rows` and :func:`build_sequences`.
SESSION_COL = "_session"


def rejected_rows(events: pa.Table, mask: pa.Array | np.ndarray, reason: str) -> pa.Table:
    """Rows of ``events`` selected by ``mask`` as a :data:`logad.schema.REJECTED_SCHEMA` table."""
    sub = events.filter(pa.array(np.asarray(mask, dtype=bool)))
    n = sub.num_rows
    raw = sub.column("raw") if "raw" in sub.column_names else pa.nulls(n, pa.string())
    return pa.table({"path": sub.column("path"), "line_no": sub.column("line_no"),
                     "reason": pa.array([reason] * n, pa.string()), "raw": raw},
                    schema=REJECTED_SCHEMA)


def key_rows(events: pa.Table, key_col: str, *, explode: bool = False) -> tuple[pa.Table, pa.Table]:
    """Attach the session key to every event.

    Parameters
    ----------
    events : pyarrow.Table
        Parsed events holding ``key_col``.
    key_col : str
        Column with the key: a string column, or with ``explode=True`` a ``list<string>`` column
        (e.g. HDFS ``block_ids``).
    explode : bool, default False
        One output row per distinct key of a line (a line naming two blocks lands in both).

    Returns
    -------
    keyed : pyarrow.Table
        ``events`` rows (repeated when exploded) plus a string column ``_session``.
    rejected : pyarrow.Table
        Lines with no key (null, empty string or empty list), as ``REJECTED_SCHEMA`` rows with
        reason ``"no session key: <key_col> is null or empty"``.

    Examples
    --------
    >>> t = pa.table({"path": ["f", "f"], "line_no": [1, 2], "k": [["a", "b"], []]})
    >>> keyed, rej = key_rows(t, "k", explode=True)
    >>> keyed.column("_session").to_pylist(), rej.num_rows
    (['a', 'b'], 1)
    """
    keyed, has_key = keyed_lines(events, key_col, explode=explode)
    return keyed, rejected_rows(events, ~has_key, no_key_reason(key_col))


def no_key_reason(key_col: str) -> str:
    """The rejected reason of a line without a session key."""
    return f"no session key: {key_col} is null or empty"


def keyed_lines(events: pa.Table, key_col: str, *, explode: bool = False) -> tuple[pa.Table, np.ndarray]:
    """:func:`key_rows` without the rejected table: ``(keyed, has_key)``, ``has_key`` a bool
    array over the rows of ``events`` (False: the line has no key and would be rejected)."""
    rows, keys, has_key = key_index(events, key_col, explode=explode)
    return events.take(pa.array(rows, pa.int64())).append_column(SESSION_COL, keys), has_key


def key_index(events: pa.Table, key_col: str, *, explode: bool = False
              ) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """The keyed rows without building them: ``(rows, keys, has_key)``; row ``rows[j]`` of
    ``events`` has key ``keys[j]`` (rows repeat when a line names several keys), so
    ``events.take(rows)`` plus ``keys`` is :func:`keyed_lines`' table, and a caller that reorders
    the rows anyway takes them once."""
    require_columns(events, [key_col, "path", "line_no"], "events")
    col = events.column(key_col)
    if explode:
        if not pa.types.is_list(col.type) and not pa.types.is_large_list(col.type):
            raise TypeError(f"{key_col} must be a list column to explode, got {col.type}")
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False).astype(np.int64)
        keys = pc.list_flatten(col).cast(pa.string())
        ok = np.asarray(pc.and_(pc.is_valid(keys), pc.not_equal(keys, "")).fill_null(False)
                        .to_numpy(zero_copy_only=False), dtype=bool)
        rows, keys = parents[ok], keys.filter(pa.array(ok))
        if len(rows) > 1 and (rows[1:] == rows[:-1]).any():  # a key once per line
            codes = pc.dictionary_encode(keys).indices.to_numpy(zero_copy_only=False).astype(np.int64)
            _, first = np.unique(rows * (int(codes.max()) + 1) + codes, return_index=True)
            first.sort()
            rows, keys = rows[first], keys.take(pa.array(first))
        has_key = np.zeros(events.num_rows, dtype=bool)
        has_key[rows] = True
        return rows, keys, has_key
    col = col.cast(pa.string())
    valid = pc.and_(pc.is_valid(col), pc.not_equal(col, "")).fill_null(False)
    has_key = np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(has_key).astype(np.int64)
    keys = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return rows, keys.take(pa.array(rows)), has_key


def group_offsets(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Offsets ``[0, s1, ..., n]`` of the runs of equal values in sorted ``keys``."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    n = len(keys)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    change = pc.not_equal(keys.slice(1), keys.slice(0, n - 1)).fill_null(True)
    starts = np.flatnonzero(np.asarray(change.to_numpy(zero_copy_only=False), dtype=bool)) + 1
    return np.concatenate([[0], starts, [n]]).astype(np.int64)


def _lists(values: pa.ChunkedArray | pa.Array, offsets: pa.Array) -> pa.ListArray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pa.ListArray.from_arrays(offsets, values)


def build_sequences(keyed: pa.Table, *, key_col: str = SESSION_COL, id_mode: str = "key",
                    error_levels: Iterable[str] = ERROR_LEVELS,
                    keep_messages: bool = True) -> pa.Table:
    """Aggregate keyed event rows into one ``sequences`` row per distinct key.

    Parameters
    ----------
    keyed : pyarrow.Table
        Event rows with :data:`EVENT_COLUMNS` and ``key_col``; every session must be complete in
        this table (the runner shuffles by key first). Rows with a null key are ignored.
    key_col : str, default "_session"
    id_mode : {"key", "first_order"}, default "key"
        ``"key"``: the session id is the key. ``"first_order"``: ``<source>:w<first_order>``
        (line-count windows, whose key is internal).
    error_levels : iterable of str
        Levels counted by ``n_error`` (compared upper-cased).
    keep_messages : bool, default True
        Fill ``messages`` with the lines' ``content``; ``False`` leaves empty lists.

    Returns
    -------
    pyarrow.Table
        :data:`SEQUENCES_SCHEMA` rows sorted by key, ``split`` null. ``label`` is the max of the
        line labels (1 if any line is anomalous, null when no line has a label).

    Examples
    --------
    >>> ev = pa.table({"source": ["s"] * 2, "path": ["f"] * 2, "line_no": [2, 1], "order": [2, 1],
    ...                "timestamp": pa.array([None, None], pa.timestamp("us")),
    ...                "level": ["INFO", "ERROR"], "content": ["b", "a"], "label": pa.array([0, 1], pa.int8()),
    ...                "template_id": ["t2", "t1"], "_session": ["k", "k"]})
    >>> row = build_sequences(ev).to_pylist()[0]
    >>> row["event_ids"], row["label"], row["n_error"]
    (['t1', 't2'], 1, 1)
    """
    if id_mode not in ("key", "first_order"):
        raise ValueError(f"id_mode must be 'key' or 'first_order', got {id_mode!r}")
    require_columns(keyed, [*EVENT_COLUMNS, key_col], "keyed events")
    keyed = keyed.filter(pc.is_valid(keyed.column(key_col)))
    if keyed.num_rows == 0:
        return SEQUENCES_SCHEMA.empty_table()
    perm, codes = _session_order(keyed, key_col)
    t = keyed.take(pa.array(perm))
    codes = codes[perm]
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    offsets = np.r_[bounds, len(codes)].astype(np.int64)
    starts_np = offsets[:-1]
    starts = pa.array(starts_np, pa.int64())
    seq_len = np.diff(offsets)
    off32 = pa.array(offsets, pa.int32())
    group = np.repeat(np.arange(len(starts_np), dtype=np.int64), seq_len)

    levels_up = pc.utf8_upper(t.column("level").cast(pa.string()))
    is_err = pc.is_in(levels_up, value_set=pa.array([s.upper() for s in error_levels], pa.string()))
    err = _np(pc.cast(is_err.fill_null(False), pa.int64()))
    ts = t.column("timestamp").cast(pa.timestamp("us"))
    ts_valid = _np(pc.is_valid(ts)).astype(bool)
    ts_int = _np(ts.cast(pa.int64()).fill_null(0))
    n_ts = np.add.reduceat(ts_valid.astype(np.int64), starts_np)
    # sorted by timestamp with nulls last: the first line has the earliest time, the last
    # line with a time the latest
    t_min = pa.array(ts_int[starts_np], pa.timestamp("us"), mask=n_ts == 0)
    t_max = pa.array(ts_int[starts_np + np.maximum(n_ts, 1) - 1], pa.timestamp("us"), mask=n_ts == 0)
    label = t.column("label").cast(pa.int8())
    lab_valid = _np(pc.is_valid(label)).astype(bool)
    lab_max = np.maximum.reduceat(np.where(lab_valid, _np(label.fill_null(0)).astype(np.int64), -(1 << 40)),
                                  starts_np)
    label_max = pa.array(lab_max, pa.int64(), mask=lab_max == -(1 << 40)).cast(pa.int8())
    first_order = pa.array(np.minimum.reduceat(_np(t.column("order")).astype(np.int64), starts_np), pa.int64())
    n_distinct = _count_distinct(t.column("template_id"), group, len(starts_np))
    n_error = np.add.reduceat(err, starts_np) if len(starts_np) else np.zeros(0, np.int64)
    keys_sorted = t.column(key_col).take(starts)
    source = t.column("source").take(starts)
    if id_mode == "key":
        session_id = keys_sorted.cast(pa.string())
    else:
        session_id = pa.array([f"{s}:w{o}" for s, o in zip(source.to_pylist(), first_order.to_pylist())],
                              pa.string())
    dur = pc.divide(pc.cast(pc.subtract(t_max, t_min).cast(pa.duration("us")), pa.int64()), 1e6)
    n = len(starts)
    refs = pa.StructArray.from_arrays(
        [t.column("path").combine_chunks().cast(pa.string()),
         t.column("line_no").combine_chunks().cast(pa.int64())], fields=list(REF_TYPE))
    if keep_messages:
        messages = _lists(t.column("content").cast(pa.string()), off32)
    else:
        messages = pa.array([[]] * n, pa.list_(pa.string()))
    cols = {
        "session_id": session_id,
        "source": source.cast(pa.string()),
        "label": label_max,
        "event_ids": _lists(t.column("template_id").cast(pa.string()), off32),
        "timestamps": _lists(t.column("timestamp").cast(pa.timestamp("us")), off32),
        "start_time": t_min,
        "duration_sec": dur.fill_null(0.0).cast(pa.float64()),
        "seq_len": pa.array(seq_len, pa.int64()),
        "n_distinct": pa.array(n_distinct, pa.int64()),
        "levels": _lists(t.column("level").cast(pa.string()), off32),
        "n_error": pa.array(n_error, pa.int64()),
        "messages": messages,
        "refs": pa.ListArray.from_arrays(off32, refs),
        "first_order": first_order.cast(pa.int64()),
        "split": pa.nulls(n, pa.string()),
    }
    return pa.table(cols, schema=SEQUENCES_SCHEMA)


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _int_key(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """int64 sort key of an integer or timestamp column, nulls last."""
    col = col.cast(pa.int64())
    valid = _np(pc.is_valid(col)).astype(bool)
    return np.where(valid, _np(col.fill_null(0)), np.iinfo(np.int64).max)


def _session_order(keyed: pa.Table, key_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Row order by key, timestamp (nulls last), line number, ``order``, as a stable sort (the
    order of Arrow's ``sort_indices`` on those keys), and each row's key rank. The keys are
    ranked once among their distinct values, then the sort runs over integers."""
    enc = pc.dictionary_encode(keyed.column(key_col).combine_chunks().cast(pa.string()))
    rank = np.empty(len(enc.dictionary), dtype=np.int64)
    rank[_np(pc.sort_indices(enc.dictionary))] = np.arange(len(enc.dictionary), dtype=np.int64)
    codes = rank[_np(enc.indices)]
    ts = keyed.column("timestamp").cast(pa.timestamp("us"))
    perm = np.lexsort((_int_key(keyed.column("order")), _int_key(keyed.column("line_no")),
                       _int_key(ts), codes))
    return perm, codes


def _count_distinct(values: pa.ChunkedArray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Distinct non-null values per group (``group`` ascending ids of each row)."""
    enc = pc.dictionary_encode(values.combine_chunks())
    valid = _np(pc.is_valid(enc.indices)).astype(bool)
    codes = _np(enc.indices.fill_null(0)).astype(np.int64)
    width = len(enc.dictionary) + 1
    pairs = np.sort(group[valid] * width + codes[valid])
    first = np.r_[True, pairs[1:] != pairs[:-1]] if len(pairs) else np.zeros(0, dtype=bool)
    return np.bincount(pairs[first] // width, minlength=n_groups).astype(np.int64)


def apply_session_labels(sequences: pa.Table, labels: pa.Table | None) -> pa.Table:
    """Overwrite ``label`` with the session labels of ``labels`` where it has the session.

    ``labels`` has columns ``session_key`` (string) and ``label`` (int); sessions it does not
    list keep their line-derived label. ``None`` returns ``sequences`` unchanged.
    """
    if labels is None or sequences.num_rows == 0:
        return sequences
    require_columns(labels, ["session_key", "label"], "labels.parquet")
    pos = pc.index_in(sequences.column("session_id"), value_set=labels.column("session_key").cast(pa.string()))
    from_file = labels.column("label").cast(pa.int8()).take(pos)
    merged = pc.coalesce(from_file, sequences.column("label"))
    idx = sequences.schema.get_field_index("label")
    return sequences.set_column(idx, sequences.schema.field("label"), merged)


def sessions_by_key(events: pa.Table, key_col: str, explode: bool = False, *,
                    labels: pa.Table | None = None, error_levels: Sequence[str] = ERROR_LEVELS,
                    keep_messages: bool = True) -> pa.Table:
    """Sessions keyed by an id column (HDFS ``block_ids`` with ``explode=True``, ``instance_id``,
    ``path``), labelled from ``labels`` where given, else from the line labels.

    Lines without a key are dropped; use :func:`key_rows` to get them as rejected rows.

    Examples
    --------
    >>> ev = pa.table({"source": ["HDFS"], "path": ["f"], "line_no": [1], "order": [1],
    ...                "timestamp": pa.array([None], pa.timestamp("us")), "level": ["INFO"],
    ...                "content": ["x"], "label": pa.array([None], pa.int8()), "template_id": ["t"],
    ...                "block_ids": [["blk_1", "blk_2"]]})
    >>> sessions_by_key(ev, "block_ids", explode=True).column("session_id").to_pylist()
    ['blk_1', 'blk_2']
    """
    keyed, _ = key_rows(events, key_col, explode=explode)
    seqs = build_sequences(keyed, error_levels=error_levels, keep_messages=keep_messages)
    return apply_session_labels(seqs, labels)
