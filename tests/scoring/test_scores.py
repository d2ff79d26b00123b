"""Pure scoring transforms: aggregation of event rows to sessions."""

from __future__ import annotations

import pyarrow as pa

from logad.scoring import SCORES_SCHEMA, aggregate_to_sessions


def test_event_rows_collapse_to_the_max_per_session():
    rows = pa.table({"session_id": ["b", "a", "b", "a"], "pos": pa.array([0, 0, 1, 1], pa.int64()),
                     "score": [0.2, 0.9, 0.7, 0.1], "label": pa.array([0, 1, 0, 1], pa.int8()),
                     "split": ["test"] * 4, "n_unknown": pa.array([1, 0, 2, 0], pa.int64())})
    out = aggregate_to_sessions(rows, threshold=0.5)
    assert out.schema == SCORES_SCHEMA
    assert out.to_pydict() == {"session_id": ["a", "b"], "score": [0.9, 0.7], "is_anomaly": [1, 1],
                               "threshold": [0.5, 0.5], "label": [1, 0], "split": ["test", "test"],
                               "n_unknown": [0, 3], "top_pos": [0, 1]}


def test_session_rows_only_get_sorted_and_flagged():
    rows = pa.table({"session_id": ["z", "y"], "pos": pa.nulls(2, pa.int64()), "score": [0.4, 0.6],
                     "label": pa.array([None, 0], pa.int8()), "split": ["val", "val"],
                     "n_unknown": pa.array([0, 0], pa.int64())})
    out = aggregate_to_sessions(rows, threshold=0.5)
    assert out.column("session_id").to_pylist() == ["y", "z"]
    assert out.column("is_anomaly").to_pylist() == [1, 0]
    assert aggregate_to_sessions(rows.slice(0, 0), 0.5).num_rows == 0
