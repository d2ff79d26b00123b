"""Featurizers on Ray Data: partial vocabulary counts per block merged on the driver, and
row-wise transforms.

Fitting sums exact per-block counts (:func:`logad.features.vocab.table_to_counts`), and a fitted
featurizer transforms each row alone (the idf and norm are per row), so both give the same result
as the single-process ``fit`` / ``transform`` for any number of blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from logad.errors import InputError
from logad.features.base import Featurizer, NotFittedError
from logad.features.registry import make_featurizer
from logad.features.rows import csr_to_rows, row_index, rows_to_csr, select_split
from logad.features.vocab import counts_to_table, table_to_counts

__all__ = ["fit_featurizer_distributed", "transform_distributed", "collect_matrix", "partial_counts_table",
           "fit_from_tables"]


def partial_counts_table(batch: pa.Table, featurizer: Featurizer, split: str | None) -> pa.Table:
    """The vocabulary counts of ``batch``'s rows in ``split`` as a table (any featurizer: one
    without a vocabulary still counts its documents)."""
    counts = featurizer.partial_counts(batch, split)
    if counts is None:
        counts = {"n_docs": select_split(batch, split).num_rows, "tf": {}, "df": {}}
    return counts_to_table(counts)


def fit_from_tables(featurizer: Featurizer, tables: list[pa.Table], split: str | None) -> Featurizer:
    """Finish fitting ``featurizer`` from :func:`partial_counts_table` outputs (any number of
    parts, in any order: the merged counts are exact sums)."""
    tables = [t for t in tables if t.num_rows]
    counts = table_to_counts(pa.concat_tables(tables)) if tables else {"n_docs": 0, "tf": {}, "df": {}}
    if counts["n_docs"] == 0:
        raise InputError(f"no sessions with split == {split!r} to fit {type(featurizer).__name__} on; "
                         "the sequences need sessions in that split (see `logad sessionize "
                         "--val-frac/--test-frac`, which leave the rest to train)")
    return featurizer.fit_counts(counts if featurizer.uses_vocabulary else None)


def _transform_batch(batch: pa.Table, featurizer: Featurizer) -> pa.Table:
    X, unknown = featurizer.transform_rows(batch)
    indices, values = csr_to_rows(X)
    out = row_index(batch, featurizer.level)
    return out.append_column("indices", indices).append_column("values", values) \
        .append_column("n_unknown", pa.array(unknown, pa.int64()))


def fit_featurizer_distributed(ds: Any, kind: str | Featurizer, *, split: str | None = "train",
                               **params: Any) -> Featurizer:
    """Fit a featurizer on a Ray Dataset of ``sequences`` rows.

    Parameters
    ----------
    ds : ray.data.Dataset
        ``sequences`` rows (with ``split`` to fit on the training rows only).
    kind : str or Featurizer
        A key of :data:`logad.features.FEATURE_KINDS` (built with ``params``), or an unfitted
        featurizer.
    split : str or None, default "train"
        Rows to fit on; None: all rows.

    Returns
    -------
    Featurizer
        Fitted; equal to ``make_featurizer(kind, **params).fit(table, split)`` on the same rows.
    """
    import ray

    featurizer = kind if isinstance(kind, Featurizer) else make_featurizer(kind, **params)
    parts = ds.map_batches(partial_counts_table, batch_format="pyarrow",
                           fn_kwargs={"featurizer": featurizer, "split": split})
    return fit_from_tables(featurizer, ray.get(parts.to_arrow_refs()), split)


def transform_distributed(ds: Any, featurizer: Featurizer) -> Any:
    """Transform every row of ``ds`` with a fitted featurizer (lazy).

    Returns
    -------
    ray.data.Dataset
        One row a feature row: ``session_id``, ``pos`` (line position at the event level, else
        null), ``label``, ``split``, ``indices`` (list<int32>), ``values`` (list<float64>),
        ``n_unknown`` (tokens mapped to ``<unk>``). :func:`collect_matrix` turns it into a CSR.
    """
    if not getattr(featurizer, "fitted_", False):
        raise NotFittedError(f"{type(featurizer).__name__} is not fitted; fit it first")
    return ds.map_batches(_transform_batch, batch_format="pyarrow", fn_kwargs={"featurizer": featurizer})


def collect_matrix(rows: Any, n_features: int) -> tuple[sp.csr_matrix, pa.Table]:
    """Gather :func:`transform_distributed` output on the driver: ``(X, index table)``.

    The index table has ``session_id``, ``pos``, ``label``, ``split``, ``n_unknown``; its rows
    match ``X``'s and are sorted by ``(session_id, pos)`` so the result does not depend on blocks.
    """
    import ray

    tables = [t for t in ray.get(rows.to_arrow_refs()) if t.num_rows]
    if not tables:
        return sp.csr_matrix((0, n_features), dtype=np.float64), pa.table({})
    table = pa.concat_tables(tables).sort_by([("session_id", "ascending"), ("pos", "ascending")])
    X = rows_to_csr(table, n_features)
    return X, table.drop_columns(["indices", "values"])
