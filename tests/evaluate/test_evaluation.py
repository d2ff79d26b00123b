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


def test_predictions_sweep_and_an_oracle_labelled_as_such(tmp_path):
    import pandas as pd

    n = 40
    # the model's threshold (0.5, from validation) flags 20 sessions; the labels' best cut is 0.7
    pq.write_table(pa.table({"session_id": [f"s{i}" for i in range(n)],
                             "score": [i / n for i in range(n)], "threshold": [0.5] * n,
                             "label": pa.array([int(i >= 29) for i in range(n)], pa.int8()),
                             "split": ["test"] * n}), tmp_path / "scores.parquet")
    r = run_evaluate(tmp_path, tmp_path / "e")
    m = r["metrics"]
    assert m["n_flagged"] == 19 and round(m["f1"], 4) == round(2 * 11 / (19 + 11), 4)
    assert m["oracle"]["f1"] == 1.0 and 0.7 <= m["oracle"]["threshold"] < 0.725
    assert "oracle" in m["oracle"]["label"] and "not on validation" in m["oracle"]["label"]
    pred = pq.read_table(tmp_path / "e" / "predictions.parquet")
    flagged = dict(zip(pred.column("session_id").to_pylist(), pred.column("is_anomaly").to_pylist()))
    assert pred.num_rows == n and flagged == {f"s{i}": i / n > 0.5 for i in range(n)}
    sweep = pd.read_csv(tmp_path / "e" / "threshold_sweep.csv")
    assert sweep["f1"].max() == 1.0 and list(sweep["threshold"]) == sorted(sweep["threshold"])
