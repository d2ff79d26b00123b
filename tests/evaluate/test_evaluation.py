"""run_evaluate on a small scores table: the split it names."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from logad.evaluate.evaluation import run_evaluate


def test_split_all_is_written_as_all(tmp_path):
    n = 40
    pq.write_table(pa.table({"session_id": [f"s{i}" for i in range(n)],
                             "score": [i / n for i in range(n)], "threshold": [0.5] * n,
                             "label": pa.array([int(i >= 30) for i in range(n)], pa.int8()),
                             "split": ["train"] * 20 + ["test"] * 20}), tmp_path / "scores.parquet")
    for given in (None, "all"):
        r = run_evaluate(tmp_path, tmp_path / f"eval-{given}", split=given)
        assert r["split"] == "all" and r["sessions"] == n
    assert run_evaluate(tmp_path, tmp_path / "eval-test")["split"] == "test"
