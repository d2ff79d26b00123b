"""Numeric features: session length, duration, word/trigram counts, distinct events, errors."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from logad.features.base import Featurizer
from logad.features.rows import event_table
from logad.schema import require_columns
from logad.sessions.schema import ERROR_LEVELS

__all__ = ["NumericFeaturizer", "NUMERIC_COLUMNS"]

#: Features per level, in column order. Words and trigrams are counted in the messages (0 when
#: the sequences were written without messages); ``n_trigrams`` counts character trigrams.
NUMERIC_COLUMNS = {
    "sequence": ("seq_len", "duration_sec", "n_words", "n_trigrams", "n_distinct", "n_error"),
    "event": ("n_words", "n_trigrams", "is_error"),
}


def _text_counts(messages: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    n_words = np.fromiter((len(m.split()) if m else 0 for m in messages), dtype=np.float64, count=len(messages))
    n_tri = np.fromiter((max(len(m) - 2, 0) if m else 0 for m in messages), dtype=np.float64, count=len(messages))
    return n_words, n_tri


class NumericFeaturizer(Featurizer):
    """Dense numeric columns as a sparse matrix (no vocabulary; ``fit`` only checks parameters).

    Parameters
    ----------
    level : {"sequence", "event"}, default "sequence"
    columns : sequence of str or None
        A subset of :data:`NUMERIC_COLUMNS` for the level, in the order wanted; None: all.
    error_levels : sequence of str
        Levels counted as errors (``is_error`` at the event level).
    """

    kind = "numeric"

    def __init__(self, *, level: str = "sequence", columns: Sequence[str] | None = None,
                 error_levels: Sequence[str] = ERROR_LEVELS) -> None:
        self.level = level
        self.columns = columns
        self.error_levels = error_levels

    def _check_params(self) -> None:
        super()._check_params()
        allowed = NUMERIC_COLUMNS[self.level]
        bad = [c for c in (self.columns or ()) if c not in allowed]
        if bad:
            raise ValueError(f"numeric columns {bad} not available at level {self.level!r}; "
                             f"choose from {list(allowed)}")

    def feature_names(self) -> list[str]:
        return list(self.columns or NUMERIC_COLUMNS[self.level])

    def _transform(self, table: pa.Table) -> tuple[sp.csr_matrix, np.ndarray]:
        values: dict[str, np.ndarray] = {}
        if self.level == "event":
            ev = event_table(table)
            values["n_words"], values["n_trigrams"] = _text_counts(ev.column("message").to_pylist())
            levels = pc.utf8_upper(ev.column("level"))
            err = pc.is_in(levels, value_set=pa.array([s.upper() for s in self.error_levels], pa.string()))
            values["is_error"] = np.asarray(err.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.float64)
        else:
            require_columns(table, ["seq_len", "duration_sec", "n_distinct", "n_error", "messages"], "sequences")
            for c in ("seq_len", "duration_sec", "n_distinct", "n_error"):
                col = table.column(c).cast(pa.float64()).fill_null(0.0)
                values[c] = np.asarray(col.to_numpy(), dtype=np.float64)
            msgs = table.column("messages").combine_chunks()
            w, t = _text_counts(pc.list_flatten(msgs).to_pylist())
            parents = pc.list_parent_indices(msgs).to_numpy(zero_copy_only=False).astype(np.int64)
            values["n_words"] = np.bincount(parents, weights=w, minlength=table.num_rows)
            values["n_trigrams"] = np.bincount(parents, weights=t, minlength=table.num_rows)
        names = self.feature_names()
        dense = np.column_stack([values[c] for c in names]).reshape(-1, len(names))
        return sp.csr_matrix(dense, dtype=np.float64), np.zeros(dense.shape[0], dtype=np.int64)

    def _state(self) -> dict[str, Any]:
        return {"names": self.feature_names()}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if list(state.get("names", [])) != self.feature_names():
            raise ValueError(f"saved numeric names {state.get('names')} differ from {self.feature_names()}")
