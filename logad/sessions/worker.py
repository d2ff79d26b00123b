"""The workers of ``logad sessionize``: key, bucket, build and write sessions (no Ray here).

A *unit* is one row group of one parsed ``part-*.parquet``. The work goes in passes, each over
items the runner hands out (:class:`logad.ray.workers.Workers`: Ray actors, or this class in
the driver's process for small inputs):

1. :meth:`SessionizeWorker.key_units` reads the columns a unit needs, gives each line its
   session key (:func:`~logad.sessions.build.key_rows`, or the time windows), finds the lines
   without a key from the key column alone (``raw`` is read only for those lines), and spills
   the keyed rows sorted by a hash bucket of the key: one Arrow IPC file per unit, one record
   batch per bucket. It returns the spill index (file, batch, bucket) and the rejected counts.
   Line-count windows first spill by *rank bucket* (``source``, ``order >> 16``) instead, and
   :meth:`SessionizeWorker.window_buckets` ranks each rank bucket and spills its window rows by
   session bucket.
2. :meth:`SessionizeWorker.build_bucket` reads every row group of one bucket (every session
   whole), builds its ``sequences`` rows (:func:`~logad.sessions.build.build_sequences`), puts
   the session labels on, spills them and returns the split keys (one small row a session).
3. :meth:`SessionizeWorker.write_bucket` puts the split on a bucket's sessions and writes
   ``part-<bucket>.parquet``.

Buckets are hashes of session keys and file names depend on units and buckets only, so the
output never depends on the number of workers or groups.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad.io import open_parquet
from logad.schema import REJECTED_SCHEMA
from logad.sessions.build import (SESSION_COL, apply_session_labels, build_sequences, key_index,
                                  no_key_reason, rejected_rows)
from logad.sessions.schema import EVENT_COLUMNS, SEQUENCES_SCHEMA
from logad.sessions.split import attach_split, sequence_hash
from logad.sessions.windows import RANK_BUCKET_BITS, count_window_rows, time_window_rows

__all__ = ["SessionizeWorker", "bucket_of", "split_keys", "partial_keys", "merge_keys", "session_keys",
           "SPILL_INDEX_SCHEMA", "KEYS_SCHEMA"]

#: What a spill pass returns: where each bucket's rows are.
SPILL_INDEX_SCHEMA = pa.schema([("file", pa.string()), ("row_group", pa.int64()),
                                ("bucket", pa.int64()), ("rows", pa.int64())])

#: The per-session keys the driver needs for the split.
KEYS_SCHEMA = pa.schema([("session_id", pa.string()), ("start_time", pa.timestamp("us")),
                         ("first_order", pa.int64()), ("label", pa.int8()), ("seq_len", pa.int64()),
                         ("seq_hash", pa.string())])

_BUCKET = "_bucket"
_RB = "_rb"


def bucket_of(keys: pa.Array | pa.ChunkedArray, n_buckets: int) -> np.ndarray:
    """Hash bucket (int64 in ``[0, n_buckets)``) of each key; the distinct keys are hashed once."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    enc = pc.dictionary_encode(keys.cast(pa.string()))
    words = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    per_word = (pd.util.hash_array(words) % np.uint64(n_buckets)).astype(np.int64)
    return per_word[enc.indices.fill_null(0).to_numpy(zero_copy_only=False)]  # null keys: never built


def split_keys(seqs: pa.Table) -> pa.Table:
    """``session_id, start_time, first_order, label, seq_len, seq_hash`` of ``sequences`` rows."""
    return pa.table({"session_id": seqs.column("session_id"), "start_time": seqs.column("start_time"),
                     "first_order": seqs.column("first_order"), "label": seqs.column("label"),
                     "seq_len": seqs.column("seq_len"),
                     "seq_hash": sequence_hash(seqs.column("event_ids"))}, schema=KEYS_SCHEMA)


def partial_keys(keyed: pa.Table) -> pa.Table:
    """Per session key of ``keyed`` rows (some of a session's lines, or all): earliest time,
    smallest ``order``, highest line label and line count; :func:`merge_keys` combines parts
    into what :func:`build_sequences` gives the whole session (``start_time``, ``first_order``,
    ``label``, ``seq_len``)."""
    work = pa.table({"k": keyed.column(SESSION_COL), "ts": keyed.column("timestamp").cast(pa.timestamp("us")),
                     "o": keyed.column("order"), "l": keyed.column("label").cast(pa.int8())})
    agg = work.group_by("k", use_threads=False).aggregate([("ts", "min"), ("o", "min"), ("l", "max"),
                                                           ("o", "count")])
    return pa.table({SESSION_COL: agg.column("k"), "start_time": agg.column("ts_min"),
                     "first_order": agg.column("o_min"), "label": agg.column("l_max"),
                     "seq_len": agg.column("o_count").cast(pa.int64())})


def merge_keys(parts: Sequence[pa.Table]) -> pa.Table:
    """:func:`partial_keys` tables (of any split of the lines) merged: one row a session key."""
    parts = [p for p in parts if p is not None and p.num_rows]
    if not parts:
        return pa.table({SESSION_COL: pa.array([], pa.string()), "start_time": pa.array([], pa.timestamp("us")),
                         "first_order": pa.array([], pa.int64()), "label": pa.array([], pa.int8()),
                         "seq_len": pa.array([], pa.int64())})
    if len(parts) == 1:
        return parts[0]
    agg = pa.concat_tables(parts).group_by(SESSION_COL, use_threads=False).aggregate(
        [("start_time", "min"), ("first_order", "min"), ("label", "max"), ("seq_len", "sum")])
    return pa.table({SESSION_COL: agg.column(SESSION_COL), "start_time": agg.column("start_time_min"),
                     "first_order": agg.column("first_order_min"), "label": agg.column("label_max"),
                     "seq_len": agg.column("seq_len_sum")})


def session_keys(merged: pa.Table, id_mode: str) -> pa.Table:
    """Split keys (``session_id, start_time, first_order, label, seq_len``) from
    :func:`merge_keys`, with the session ids :func:`build_sequences` gives (``id_mode``)."""
    key = merged.column(SESSION_COL)
    if id_mode == "key":
        sid = key.cast(pa.string())
    else:  # line-count windows: key "<source>\x1f<k>", id "<source>:w<first_order>"
        src = pc.list_element(pc.split_pattern(key, "\x1f", max_splits=1), 0)
        sid = pc.binary_join_element_wise(src, merged.column("first_order").cast(pa.string()), ":w")
    return pa.table({"session_id": sid, "start_time": merged.column("start_time"),
                     "first_order": merged.column("first_order"), "label": merged.column("label"),
                     "seq_len": merged.column("seq_len")})


def _read_unit(unit: dict, columns: Sequence[str]) -> pa.Table:
    return open_parquet(unit["file"]).read_row_group(int(unit["row_group"]), columns=list(columns),
                                                       use_threads=False)


def _with_raw(unit: dict, rejected: pa.Table, line_idx: np.ndarray) -> pa.Table:
    """``rejected`` with the ``raw`` text of its lines (rows ``line_idx`` of the unit), read
    only when there are rejected lines and the input has ``raw``."""
    if rejected.num_rows == 0:
        return rejected
    pf = open_parquet(unit["file"])
    if "raw" not in pf.schema_arrow.names:
        return rejected
    raw = pf.read_row_group(int(unit["row_group"]), columns=["raw"], use_threads=False).column("raw")
    return rejected.set_column(3, REJECTED_SCHEMA.field("raw"),
                               raw.take(pa.array(line_idx, pa.int64())).cast(pa.string()))


def _spill(table: pa.Table, buckets: np.ndarray, path: Path) -> pa.Table:
    """Write ``table`` as an Arrow IPC file sorted by bucket, one record batch per bucket (a
    spill is read once, soon, on this cluster: no encoding, and read back memory-mapped).
    Returns the spill index."""
    if table.num_rows == 0:
        return SPILL_INDEX_SCHEMA.empty_table()
    if (np.diff(buckets) < 0).any():
        order = np.argsort(buckets, kind="stable")
        buckets, table = buckets[order], table.take(pa.array(order))
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(buckets)]
    table = table.combine_chunks()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            for s, e in zip(starts, ends):
                w.write_table(table.slice(int(s), int(e - s)), max_chunksize=int(e - s))
        os.replace(tmp, path)  # a retried task never leaves half a spill
    finally:
        if tmp.exists():
            tmp.unlink()
    return pa.table({"file": [str(path)] * len(starts), "row_group": np.arange(len(starts)),
                     "bucket": buckets[starts], "rows": ends - starts}, schema=SPILL_INDEX_SCHEMA)


def _read_spill(index: pa.Table) -> pa.Table | None:
    """The record batches listed in ``index`` (one bucket), concatenated in index order."""
    batches, readers = [], {}
    for f, i in zip(index.column("file").to_pylist(), index.column("row_group").to_pylist()):
        if f not in readers:
            readers[f] = pa.ipc.open_file(pa.memory_map(f, "r"))
        batches.append(readers[f].get_batch(int(i)))
    return pa.Table.from_batches(batches) if batches else None


def _write_part(seqs: pa.Table, out_dir: str, b: int) -> int:
    if seqs.num_rows:
        pq.write_table(seqs, Path(out_dir) / f"part-{int(b):05d}.parquet")
    return seqs.num_rows


def _write_ipc(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)


class SessionizeWorker:
    """One worker of a sessionize run (a Ray actor with one CPU, or an object in the driver).

    Parameters
    ----------
    plan : dict
        ``by``, ``key_col``, ``columns`` (read per unit), ``n_buckets``, ``spill_dir``, and for
        windows ``span_sec``/``step_sec`` (time) or ``size``/``step`` (line counts).
    build_kw : dict
        ``id_mode``, ``error_levels``, ``keep_messages`` for :func:`build_sequences`.
    """

    def __init__(self, plan: dict, build_kw: dict) -> None:
        self.plan, self.build_kw = plan, build_kw
        self.labels: pa.Table | None = None
        self.split: pa.Table | None = None
        self.rank_offsets: dict = {}
        self.totals: dict = {}

    # -- state handed to every worker once ------------------------------------------------------
    def set_plan(self, plan: dict) -> bool:
        self.plan = plan
        return True

    def set_labels(self, labels: pa.Table | None) -> bool:
        self.labels = labels
        return True

    def set_ranks(self, offsets: dict, totals: dict) -> bool:
        self.rank_offsets, self.totals = offsets, totals
        return True

    def set_split(self, split: pa.Table) -> bool:
        self.split = split
        return True

    # -- pass 1 ---------------------------------------------------------------------------------
    def _key(self, unit: dict) -> tuple[pa.Table, np.ndarray, pa.Table]:
        """Keyed rows of a unit, their buckets and the unit's rejected rows."""
        p = self.plan
        by, n_buckets = p["by"], int(p["n_buckets"])
        t = _read_unit(unit, p["columns"])
        line_idx = np.zeros(0, dtype=np.int64)
        if by == "time":
            has = np.asarray(pc.is_valid(t.column("timestamp")).to_numpy(zero_copy_only=False), dtype=bool)
            keyed, rejected = time_window_rows(t, p["span_sec"], p["step_sec"])
            line_idx = np.flatnonzero(~has)
        elif by in ("fixed", "sliding"):
            keyed = t.append_column(_RB, pc.shift_right(t.column("order"), RANK_BUCKET_BITS))
            rejected = REJECTED_SCHEMA.empty_table()
            src = bucket_of(keyed.column("source"), 1 << 30)
            rb = keyed.column(_RB).to_numpy(zero_copy_only=False).astype(np.int64)
            return keyed, (src + rb) % n_buckets, rejected
        else:  # one take: the keyed rows straight in bucket order
            rows, keys, has_key = key_index(t, p["key_col"], explode=by == "block")
            line_idx = np.flatnonzero(~has_key)
            rejected = _with_raw(unit, rejected_rows(t, ~has_key, no_key_reason(p["key_col"])), line_idx)
            buckets = bucket_of(keys, n_buckets)
            order = np.argsort(buckets, kind="stable")
            keyed = t.select(list(EVENT_COLUMNS)).take(pa.array(rows[order])) \
                .append_column(SESSION_COL, keys.take(pa.array(order)))
            return keyed, buckets[order], rejected
        keyed = keyed.select([*EVENT_COLUMNS, SESSION_COL])
        return keyed, bucket_of(keyed.column(SESSION_COL), n_buckets), _with_raw(unit, rejected, line_idx)

    def key_units(self, units: list[dict]) -> tuple[pa.Table, dict, pa.Table | None, pa.Table | None]:
        """Pass 1 over a group of units: ``(spill index, rejected lines by reason, rank
        counts, partial keys)``. Rejected lines go to ``<rejected_dir>/part-<unit>.parquet``;
        rank counts (``source, _rb, _rb_count``) only for line-count windows, else None;
        partial keys (:func:`partial_keys`) only with ``plan["early_split"]``, else None."""
        index, reasons, counts, keys = [], {}, [], []
        early = self.plan.get("early_split") and self.plan["by"] not in ("fixed", "sliding")
        for unit in units:
            keyed, buckets, rej = self._key(unit)
            if early:
                keys.append(partial_keys(keyed))
            name = f"{int(unit['index']):06d}"
            index.append(_spill(keyed, buckets, Path(self.plan["spill_dir"]) / f"keyed-{name}.arrow"))
            if rej.num_rows:
                pq.write_table(rej, Path(self.plan["rejected_dir"]) / f"part-{name}.parquet")
                for r in pc.value_counts(rej.column("reason")).to_pylist():
                    reasons[r["values"]] = reasons.get(r["values"], 0) + int(r["counts"])
            if _RB in keyed.column_names:
                counts.append(keyed.select(["source", _RB]).group_by(["source", _RB], use_threads=False)
                              .aggregate([(_RB, "count")]))
        return (pa.concat_tables(index) if index else SPILL_INDEX_SCHEMA.empty_table(), reasons,
                pa.concat_tables(counts) if counts else None, merge_keys(keys) if early else None)

    def window_buckets(self, item: tuple[int, pa.Table]) -> tuple[pa.Table, pa.Table | None]:
        """Line-count windows, pass 1b: rank every line of one rank bucket's spill (whole
        ``(source, order >> 16)`` groups), emit its rows once per window and spill them by
        session bucket. Returns the spill index and (``early_split``) the partial keys."""
        b, index = item
        t = _read_spill(index)
        p = self.plan
        out_path = Path(p["spill_dir"]) / f"windows-{int(b):06d}.arrow"
        if t is None:
            return SPILL_INDEX_SCHEMA.empty_table(), None
        t = t.sort_by([("source", "ascending"), ("order", "ascending")])
        src = t.column("source").to_numpy(zero_copy_only=False)
        rb = t.column(_RB).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, (src[1:] != src[:-1]) | (rb[1:] != rb[:-1])])
        lens = np.diff(np.r_[starts, len(src)])
        base = np.array([self.rank_offsets[(src[s], int(rb[s]))] for s in starts], dtype=np.int64)
        rank = np.repeat(base - starts, lens) + np.arange(len(src), dtype=np.int64)
        keyed = count_window_rows(t.select(list(EVENT_COLUMNS)), rank, self.totals,
                                  int(p["size"]), int(p["step"]))
        index = _spill(keyed, bucket_of(keyed.column(SESSION_COL), int(p["n_buckets"])), out_path)
        return index, partial_keys(keyed) if p.get("early_split") else None

    # -- pass 2 and 3 ---------------------------------------------------------------------------
    def build_bucket(self, item: tuple[int, pa.Table]) -> pa.Table:
        """Sessions of one bucket, labelled, spilled to ``seq-<bucket>.parquet``; returns their
        split keys (:data:`KEYS_SCHEMA`)."""
        b, index = item
        t = _read_spill(index)
        if t is None:
            return KEYS_SCHEMA.empty_table()
        seqs = build_sequences(t, **self.build_kw)
        seqs = apply_session_labels(seqs, self.labels)
        _write_ipc(seqs, self._seq_path(b))
        return split_keys(seqs)

    def build_write_bucket(self, item: tuple[int, pa.Table, str]) -> int:
        """Pass 2 when the split is known before the sessions are built (``early_split``):
        build bucket ``b``'s sessions, label them, attach the split and write
        ``<out>/part-<b>.parquet`` at once; returns the rows written."""
        b, index, out_dir = item
        t = _read_spill(index)
        if t is None:
            return 0
        seqs = apply_session_labels(build_sequences(t, **self.build_kw), self.labels)
        return _write_part(attach_split(seqs, self.split).cast(SEQUENCES_SCHEMA), out_dir, b)

    def write_bucket(self, item: tuple[int, str]) -> int:
        """Attach the split to bucket ``b``'s sessions and write them to ``<out>/part-<b>.parquet``;
        returns the rows written (0: no file)."""
        b, out_dir = item
        path = self._seq_path(b)
        if not path.is_file():
            return 0
        seqs = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
        return _write_part(attach_split(seqs, self.split).cast(SEQUENCES_SCHEMA), out_dir, b)

    def _seq_path(self, b: int) -> Path:
        return Path(self.plan["spill_dir"]) / f"seq-{int(b):05d}.arrow"

    def ready(self) -> bool:
        return True

