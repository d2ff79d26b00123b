"""Rows of a feature matrix: sessions (``level="sequence"``) or their lines (``level="event"``).

At the event level, row ``(session_id, pos)`` is the ``pos``-th line of the session (0-based,
session order) and inherits the session's ``label`` and ``split``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from logad.schema import require_columns

if TYPE_CHECKING:
    import pandas

__all__ = ["LEVELS", "as_table", "select_split", "event_table", "row_index", "row_labels",
           "csr_to_rows", "rows_to_csr"]

LEVELS = ("sequence", "event")


def as_table(data: pa.Table | pandas.DataFrame) -> pa.Table:
    """A ``pyarrow.Table`` from a table or a pandas DataFrame."""
    if isinstance(data, pa.Table):
        return data
    return pa.Table.from_pandas(data, preserve_index=False)


def select_split(table: pa.Table, split: str | Sequence[str] | None) -> pa.Table:
    """Rows whose ``split`` is ``split`` (a name or names); all rows when ``split`` is None or the
    table has no ``split`` column."""
    if split is None or "split" not in table.column_names:
        return table
    names = [split] if isinstance(split, str) else list(split)
    return table.filter(pc.is_in(table.column("split"), value_set=pa.array(names, pa.string())).fill_null(False))


def _flat(table: pa.Table, col: str) -> pa.Array:
    arr = table.column(col).combine_chunks()
    return pc.list_flatten(arr)


def event_table(table: pa.Table) -> pa.Table:
    """One row a line: ``session_id, pos, label, split, event_id, message, level``.

    ``message`` is null when the sequences were written without messages; ``split`` is null when
    the table has no ``split`` column.

    >>> t = pa.table({"session_id": ["s"], "label": pa.array([1], pa.int8()), "event_ids": [["a", "b"]],
    ...               "messages": [["x", "y"]], "levels": [["INFO", None]]})
    >>> event_table(t).select(["session_id", "pos", "event_id", "label"]).to_pylist()[1]
    {'session_id': 's', 'pos': 1, 'event_id': 'b', 'label': 1}
    """
    require_columns(table, ["session_id", "event_ids"], "sequences")
    ev = table.column("event_ids").combine_chunks()
    parent = pc.list_parent_indices(ev).to_numpy(zero_copy_only=False).astype(np.int64)
    lens = pc.list_value_length(ev).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    pos = np.arange(len(parent), dtype=np.int64) - starts
    idx = pa.array(parent)
    n = len(parent)

    def aligned(col: str) -> pa.Array:
        if col not in table.column_names:
            return pa.nulls(n, pa.string())
        lengths = pc.list_value_length(table.column(col).combine_chunks()).fill_null(0)
        if not pc.all(pc.equal(lengths, pa.array(lens))).as_py():
            return pa.nulls(n, pa.string())
        return _flat(table, col).cast(pa.string())

    label = table.column("label").take(idx) if "label" in table.column_names else pa.nulls(n, pa.int8())
    split = table.column("split").take(idx) if "split" in table.column_names else pa.nulls(n, pa.string())
    return pa.table({"session_id": table.column("session_id").take(idx), "pos": pa.array(pos, pa.int64()),
                     "label": label, "split": split, "event_id": pc.list_flatten(ev).cast(pa.string()),
                     "message": aligned("messages"), "level": aligned("levels")})


def row_index(table: pa.Table, level: str = "sequence") -> pa.Table:
    """Identity of each feature row: ``session_id``, ``pos`` (null at sequence level), ``label``, ``split``."""
    if level == "event":
        return event_table(table).select(["session_id", "pos", "label", "split"])
    if level != "sequence":
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    n = table.num_rows
    get = lambda c, t: table.column(c) if c in table.column_names else pa.nulls(n, t)  # noqa: E731
    return pa.table({"session_id": table.column("session_id"), "pos": pa.nulls(n, pa.int64()),
                     "label": get("label", pa.int8()), "split": get("split", pa.string())})


def row_labels(table: pa.Table, level: str = "sequence") -> np.ndarray:
    """Labels of the feature rows as int64: 1 anomalous, 0 normal, -1 unknown."""
    lab = row_index(table, level).column("label").cast(pa.int64()).fill_null(-1)
    return np.asarray(lab.to_numpy(zero_copy_only=False), dtype=np.int64)


def csr_to_rows(X: sp.csr_matrix) -> tuple[pa.Array, pa.Array]:
    """Each row of ``X`` as ``(indices: list<int32>, values: list<float64>)``."""
    X = sp.csr_matrix(X)
    offsets = pa.array(X.indptr.astype(np.int32))
    return (pa.ListArray.from_arrays(offsets, pa.array(X.indices.astype(np.int32))),
            pa.ListArray.from_arrays(offsets, pa.array(X.data.astype(np.float64))))


def rows_to_csr(table: pa.Table, n_features: int) -> sp.csr_matrix:
    """Inverse of :func:`csr_to_rows` from a table with ``indices`` and ``values`` columns."""
    ind = table.column("indices").combine_chunks()
    val = table.column("values").combine_chunks()
    lens = pc.list_value_length(ind).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(lens)])
    return sp.csr_matrix((pc.list_flatten(val).to_numpy(zero_copy_only=False).astype(np.float64),
                          pc.list_flatten(ind).to_numpy(zero_copy_only=False).astype(np.int64), indptr),
                         shape=(table.num_rows, n_features))
