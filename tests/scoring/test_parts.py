"""The pure parts of streamed scoring: ranks over blocks, bucket cuts, the raw-line keys."""

from __future__ import annotations

import pyarrow as pa

from logad.scoring.parts import PARTS_SCHEMA, add_ranks, sort_for_rank


def _rows(models, scores, ids):
    n = len(ids)
    return pa.table({"session_id": ids, "model": models, "model_version": ["v"] * n, "score": scores,
                     "is_anomaly": pa.array([0] * n, pa.int8()), "threshold": [0.5] * n,
                     "rank": pa.nulls(n, pa.int64()), "label": pa.nulls(n, pa.int8()), "split": ["test"] * n,
                     "n_unknown": [0] * n, "top_pos": pa.nulls(n, pa.int64()), "ref_path": ["f"] * n,
                     "ref_line_no": list(range(n))}, schema=PARTS_SCHEMA)


def test_ranks_continue_over_blocks_and_break_ties_by_id():
    t = sort_for_rank(_rows(["a", "a", "b", "a", "b"], [0.2, 0.9, 0.5, 0.9, 0.1], ["s3", "s2", "s1", "s1", "s0"]))
    assert list(zip(t.column("model").to_pylist(), t.column("session_id").to_pylist())) == \
        [("a", "s1"), ("a", "s2"), ("a", "s3"), ("b", "s1"), ("b", "s0")]
    whole, _ = add_ranks(t, {})
    first, start = add_ranks(t.slice(0, 2), {})
    second, _ = add_ranks(t.slice(2), start)
    assert whole.column("rank").to_pylist() == [1, 2, 3, 1, 2]
    assert first.column("rank").to_pylist() + second.column("rank").to_pylist() == [1, 2, 3, 1, 2]
