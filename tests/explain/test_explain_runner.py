"""`logad explain` on a real local Ray: SHAP over an actor pool, neighbours, FP/FN with raw lines."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.errors import ConfigError
from logad.io import part_entries, write_json
from logad.ray.explain import run_explain
from logad.ray.score import run_score
from logad.ray.train import run_train
from tests.scoring.factory import make_sequences, write_sequences


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    table = make_sequences(200, seed=5)
    seq = write_sequences(table, root / "seq", parts=2)
    # a parse folder: the raw lines every ref points at, and templates for the event ids
    refs = [r for rs in table.column("refs").to_pylist() for r in rs]
    msgs = [m for ms in table.column("messages").to_pylist() for m in ms]
    (root / "parsed" / "events").mkdir(parents=True)
    pq.write_table(pa.table({"path": [r["path"] for r in refs], "line_no": [r["line_no"] for r in refs],
                             "raw": [f"2026-01-01 INFO {m}" for m in msgs]}),
                   root / "parsed" / "events" / "part-00000.parquet")
    write_json({"stage": "parse", "status": "complete",
                "parts": part_entries(root / "parsed", [root / "parsed" / "events" / "part-00000.parquet"])},
               root / "parsed" / "manifest.json")
    pq.write_table(pa.table({"template_id": ["auth_fail", "open"],
                             "template": ["authentication failed for user <*>", "open session <*>"]}),
                   root / "parsed" / "templates.parquet")
    dirs = {}
    for m in ("sequence_xgb_counts", "sequence_pca_counts"):
        run_train(m, seq, root / m)
        dirs[m] = str(root / m)
    run_score(list(dirs.values()), seq, root / "scores")
    return root, seq, dirs


def test_shap_is_independent_of_actors_and_readable(ray_session, scored, tmp_path):
    root, seq, dirs = scored
    cfg = {"shap_sample": 30, "shap_background": 40, "parsed": str(root / "parsed"), "nn_top_k": 3,
           "local_below": 0}  # the actor pools, even for 30 sessions
    one = run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "e1", {**cfg, "workers": 1})
    two = run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "e2", {**cfg, "workers": 2})
    a, b = pq.read_table(tmp_path / "e1" / "shap.parquet"), pq.read_table(tmp_path / "e2" / "shap.parquet")
    assert a.num_rows == 30 and a.equals(b)
    # below local_below the same rows are explained in this process, with the same values
    run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "e0",
                {**cfg, "local_below": 1000, "workers": None})
    assert pq.read_table(tmp_path / "e0" / "shap.parquet").equals(a)
    assert one["sessions"] == two["sessions"] and one["explainer"] == "tree"
    # the anomalous event, by its template text, explains the top sessions
    assert one["sessions"][0]["top_features"][0]["feature"] == "[event] authentication failed for user <*>"
    assert (tmp_path / "e1" / "plots" / "shap_beeswarm.png").stat().st_size > 2000
    nn = one["nearest_normal"]
    assert len(nn) == 3 and all(r["neighbour"] and r["differs"] for r in nn)
    assert any(d["feature"].startswith("[event] authentication") for d in nn[0]["differs"])
    top = one["top_anomalies"][0]
    assert [ln["at"] for ln in top["context"]].count(True) == 1 and "INFO" in top["context"][0]["raw"]
    cases = one["cases"]
    for kind in ("false_positives", "false_negatives"):
        for case in cases[kind]:
            assert case["split"] == "test" and case["lines"] and case["lines"][0]["raw"].startswith("2026")
    assert json.loads((tmp_path / "e1" / "explain.json").read_text())["status"] == "complete"
    again = run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "e1", {**cfg, "workers": 1})
    assert again.get("skipped")  # the same settings (every setting is part of the skip key)


def test_permutation_fallback_and_guards_name_the_flag(ray_session, scored, tmp_path):
    root, seq, dirs = scored
    r = run_explain(dirs["sequence_pca_counts"], seq, root / "scores", tmp_path / "p",
                    {"shap_sample": 6, "shap_background": 20, "workers": 0, "max_evals": 50})
    assert r["explainer"] == "permutation" and r["explained"] == 6
    with pytest.raises(ConfigError, match="--shap-cell-threshold"):
        run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "g",
                    {"shap_cell_threshold": 10})
    with pytest.raises(ConfigError, match="--shap-feature-threshold"):
        run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "g",
                    {"shap_feature_threshold": 2})
    whole = run_explain(dirs["sequence_xgb_counts"], seq, root / "scores", tmp_path / "w",
                        {"shap_sample": 5, "shap_background": 0, "workers": 0})
    assert whole["background"] == 120  # 0 = the whole train split
    assert np.isfinite([s["base_value"] for s in whole["sessions"]]).all()


def test_deeplog_says_which_events_it_missed_by_template(ray_session, scored, tmp_path):
    root, seq, _ = scored
    params = {"epochs": 2, "hidden": 16, "layers": 1, "embed": 8, "window": 4, "top_k": 1,
              "batch_size": 128, "lr": 0.01, "device": "cpu"}
    model = tmp_path / "deeplog"
    run_train("sequence_deeplog", seq, model, {"params": params})
    run_score([str(model)], seq, tmp_path / "scores")
    r = run_explain(str(model), seq, tmp_path / "scores", tmp_path / "e",
                    {"shap_sample": 10, "parsed": str(root / "parsed"), "nn_top_k": 0, "cases": 0})
    assert r["explainer"] == "sequence" and r["note"] == "events the model missed"
    got = r["sequence_explanations"]
    assert len(got) == 10 and all(g["session_id"] for g in got)
    missed = [m for g in got for m in g["missed"]]
    assert missed, "top_k=1 after two epochs: the top sessions miss some events"
    known = {"authentication failed for user <*>", "open session <*>", "<end of session>"}
    texts = {m["event_text"] for m in missed} | {t for m in missed for t in m["expected_text"]}
    assert texts & known  # ids are shown as the templates a person reads
