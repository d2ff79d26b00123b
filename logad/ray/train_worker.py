"""The workers of ``logad train`` (classical models): read, count, featurize (no Ray here).

Each worker reads its share of the ``sequences`` files once (:meth:`FeatureWorker.load`: only
the columns the featurizers need, only the train and validation rows) and keeps the rows. It
returns the vocabulary counts of its train rows (:meth:`FeatureWorker.counts`); the driver
merges them (exact sums: the same vocabulary as one fit over all train rows) and hands the
fitted featurizers back (:meth:`FeatureWorker.transform`), and the worker returns its rows as
count vectors: CSR pieces with their session ids. The driver stacks the pieces in
``(session_id, pos)`` order, so the matrix does not depend on how files were shared out.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from logad.features import Featurizer, row_index
from logad.io import read_table
from logad.models.trained import featurize
from logad.ray.features import partial_counts_table
from logad.sessions.schema import SEQUENCES_SCHEMA

__all__ = ["FeatureWorker", "ALWAYS_READ", "columns_for", "stack_pieces", "TRAIN_SPLITS"]

#: Columns every classical model reads.
ALWAYS_READ = ("session_id", "label", "split", "event_ids")
TRAIN_SPLITS = ("train", "val")
_EVENT_IDS_LEAF = "event_ids.list.element"


def columns_for(featurizers: Sequence[Featurizer], available: Sequence[str]) -> list[str] | None:
    """Columns to read for ``featurizers`` (None: all of them)."""
    want = list(ALWAYS_READ)
    for f in featurizers:
        cols = f.input_columns()
        if cols is None:
            return None
        want += cols
    return [c for c in dict.fromkeys(want) if c in available]


def _read(files: Sequence[str], columns: list[str] | None) -> pa.Table:
    """Train and validation rows of ``files`` (typed as :data:`SEQUENCES_SCHEMA`)."""
    parts = []
    for f in files:
        # event ids as dictionary codes: the few distinct ids are decoded (and counted, and
        # looked up in the vocabulary) once, not once per line
        t = read_table(f, columns=columns, use_threads=False, read_dictionary=[_EVENT_IDS_LEAF])
        t = t.filter(pc.is_in(t.column("split"), value_set=pa.array(TRAIN_SPLITS)).fill_null(False))
        parts.append(t.cast(pa.schema([SEQUENCES_SCHEMA.field(c) if c in SEQUENCES_SCHEMA.names
                                       and c != "event_ids" else t.schema.field(c) for c in t.column_names])))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts).unify_dictionaries().combine_chunks()


class FeatureWorker:
    """Holds its files' train and validation rows between :meth:`counts` and :meth:`transform`.

    Parameters
    ----------
    columns : list of str or None
        What to read (:func:`columns_for`).
    level : {"sequence", "event"}
        The model's level (one feature row a session, or a line).
    """

    def __init__(self, columns: list[str] | None, level: str) -> None:
        self.columns, self.level = columns, level
        self.table: pa.Table | None = None

    def load(self, files: list[str]) -> dict:
        """Read ``files``; returns the number of sessions per split."""
        self.table = _read(files, self.columns)
        if self.table.num_rows == 0:
            return {s: 0 for s in TRAIN_SPLITS}
        vc = pc.value_counts(self.table.column("split")).to_pylist()
        got = {r["values"]: int(r["counts"]) for r in vc}
        return {s: got.get(s, 0) for s in TRAIN_SPLITS}

    def counts(self, featurizers: list[Featurizer]) -> list[pa.Table]:
        """Vocabulary counts of the train rows, one table per featurizer."""
        if self.table is None or self.table.num_rows == 0:
            return [pa.table({}) for _ in featurizers]
        return [partial_counts_table(self.table, f, "train") for f in featurizers]

    def transform(self, featurizers: list[Featurizer]) -> dict:
        """Per split: ``X`` (CSR float64), ``index`` (session_id, pos, label, split) and
        ``unknown`` (tokens mapped to ``<unk>`` per row)."""
        out = {}
        for split in TRAIN_SPLITS:
            t = self.table.filter(pc.equal(self.table.column("split"), split)) \
                if self.table is not None and self.table.num_rows else None
            if t is None or t.num_rows == 0:
                out[split] = None
                continue
            X, _, unknown = featurize(featurizers, t)
            out[split] = {"X": X, "index": row_index(t, self.level), "unknown": unknown}
        self.table = None  # done: free the rows
        return out

    def ready(self) -> bool:
        return True


def stack_pieces(pieces: list[dict | None], n_features: int) -> tuple[sp.csr_matrix, pa.Table, np.ndarray]:
    """The pieces of one split in ``(session_id, pos)`` order: ``(X, index, unknown)``."""
    pieces = [p for p in pieces if p is not None]
    if not pieces:
        return (sp.csr_matrix((0, n_features), dtype=np.float64), row_index(SEQUENCES_SCHEMA.empty_table()),
                np.zeros(0, dtype=np.int64))
    index = pa.concat_tables([p["index"] for p in pieces])
    unknown = np.concatenate([p["unknown"] for p in pieces])
    order = pc.sort_indices(index, sort_keys=[("session_id", "ascending"), ("pos", "ascending")]).to_numpy()
    if isinstance(pieces[0]["X"], list):  # event-id sequences (torch sequence models)
        rows = [x for p in pieces for x in p["X"]]
        return [rows[i] for i in order], index.take(pa.array(order)), unknown[order]
    X = sp.vstack([p["X"] for p in pieces], format="csr") if len(pieces) > 1 else pieces[0]["X"]
    return X[order], index.take(pa.array(order)), unknown[order]
