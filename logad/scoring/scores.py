"""The ``scores`` table and the pure functions that make it.

One row a session: ``session_id``, ``score`` (higher = more anomalous), ``is_anomaly``
(``score > threshold``), ``threshold``, ``label`` and ``split`` carried over from the sequences,
``n_unknown`` (tokens the model's vocabularies had never seen). Event-level models score every
line; a session's score is then the maximum over its lines, and ``top_pos`` says which line.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.features import row_index
from logad.models.trained import TrainedModel

__all__ = ["SCORES_SCHEMA", "score_batch", "aggregate_to_sessions"]

SCORES_SCHEMA = pa.schema([
    ("session_id", pa.string()),
    ("score", pa.float64()),
    ("is_anomaly", pa.int8()),
    ("threshold", pa.float64()),
    ("label", pa.int8()),
    ("split", pa.string()),
    ("n_unknown", pa.int64()),
    ("top_pos", pa.int64()),
])


def score_batch(model: TrainedModel, batch: pa.Table) -> pa.Table:
    """Score the rows of a ``sequences`` batch at the model's level (sessions or their lines).

    Returns one row per feature row: ``session_id``, ``pos`` (line position, null at the
    session level), ``score``, ``label``, ``split``, ``n_unknown``.
    """
    scores, unknown = model.score(batch)
    idx = row_index(batch, model.spec.level)
    return pa.table({
        "session_id": idx.column("session_id"),
        "pos": idx.column("pos").cast(pa.int64()),
        "score": pa.array(np.asarray(scores, dtype=np.float64)),
        "label": idx.column("label").cast(pa.int8()),
        "split": idx.column("split"),
        "n_unknown": pa.array(np.asarray(unknown, dtype=np.int64)),
    })


def aggregate_to_sessions(rows: pa.Table, threshold: float) -> pa.Table:
    """Collapse feature rows to one row a session (max score, sum of unknowns), sorted by id.

    At the session level this only sorts and adds ``is_anomaly``/``threshold``.
    """
    if rows.num_rows == 0:
        return SCORES_SCHEMA.empty_table()
    order = pc.sort_indices(rows, sort_keys=[("session_id", "ascending"), ("score", "descending"),
                                             ("pos", "ascending")])
    rows = rows.take(order)
    sid = rows.column("session_id").to_numpy(zero_copy_only=False)
    first = np.ones(len(sid), dtype=bool)
    first[1:] = sid[1:] != sid[:-1]
    starts = np.flatnonzero(first)
    unknown = np.add.reduceat(rows.column("n_unknown").to_numpy(), starts) if len(starts) else np.array([], np.int64)
    top = rows.take(pa.array(starts))
    score = top.column("score").to_numpy()
    return pa.table({
        "session_id": top.column("session_id"),
        "score": top.column("score"),
        "is_anomaly": pa.array((score > threshold).astype(np.int8)),
        "threshold": pa.array(np.full(len(score), float(threshold))),
        "label": top.column("label"),
        "split": top.column("split"),
        "n_unknown": pa.array(unknown.astype(np.int64)),
        "top_pos": top.column("pos"),
    }, schema=SCORES_SCHEMA)
