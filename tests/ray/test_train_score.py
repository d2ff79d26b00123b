"""train → score → evaluate on a real local Ray, for detectors of every kind."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from logad.errors import ModelError
from logad.evaluate.evaluation import run_evaluate
from logad.models.trained import TrainedModel
from logad.ray.score import run_score
from logad.ray.train import run_train
from logad.scoring.parts import read_scores
from tests.scoring.factory import make_sequences, write_sequences


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_sequences(make_sequences(300, seed=1), tmp_path_factory.mktemp("seq"))


@pytest.mark.parametrize("model", ["sequence_xgb_counts", "sequence_if_counts",
                                   "sequence_baseline_counts", "event_lr_words"])
def test_train_score_evaluate(ray_session, corpus, tmp_path, model):
    summary = run_train(model, corpus, tmp_path / "model")
    assert summary["train_rows"] > 0 and np.isfinite(summary["threshold"])
    assert "validation" in summary["threshold_method"] or summary["validation"] == {} or \
        "contamination" in summary["threshold_method"] or "auto" in summary["threshold_method"]
    m = run_score(tmp_path / "model", corpus, tmp_path / "scores", {"batch_size": 37})
    scores = read_scores(tmp_path / "scores")
    assert scores.num_rows == m["sessions"] == 300
    assert scores.column("session_id").to_pylist() == sorted(scores.column("session_id").to_pylist())
    s, flag = scores.column("score").to_numpy(), scores.column("is_anomaly").to_numpy()
    assert ((s > summary["threshold"]).astype(np.int8) == flag).all()
    # batch size (and so the number of actor calls) does not change a score
    run_score(tmp_path / "model", corpus, tmp_path / "scores2", {"batch_size": 300})
    assert read_scores(tmp_path / "scores2").equals(scores)
    r = run_evaluate(tmp_path / "scores", tmp_path / "eval")
    assert r["sessions"] == 60 and r["metrics"]["roc_auc"] > 0.8
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["metrics"]["tp"] + saved["metrics"]["fn"] == saved["metrics"]["n_anomalous"]
    assert all((tmp_path / "eval" / "plots" / f"{p}.png").stat().st_size > 1000
               for p in ("pr_curve", "roc_curve", "score_histogram", "confusion_matrix"))


def test_threshold_never_sees_test_labels(ray_session, tmp_path):
    table = make_sequences(300, seed=2)
    a = run_train("sequence_lr_counts", write_sequences(table, tmp_path / "a"), tmp_path / "ma")
    flipped = table.set_column(table.schema.get_field_index("label"), "label",
                               pc.if_else(pc.equal(table.column("split"), "test"),
                                          pc.subtract(1, table.column("label").cast("int64")).cast("int8"),
                                          table.column("label")))
    b = run_train("sequence_lr_counts", write_sequences(flipped, tmp_path / "b"), tmp_path / "mb")
    assert a["threshold"] == b["threshold"]


def test_unseen_events_of_another_corpus_are_counted(ray_session, corpus, tmp_path):
    run_train("sequence_xgb_counts", corpus, tmp_path / "model")
    other = write_sequences(make_sequences(50, seed=9, unseen="brand_new_event"), tmp_path / "other")
    m = run_score(tmp_path / "model", other, tmp_path / "scores")
    assert m["unknown_tokens"] > 0 and m["sessions"] == 50


def test_model_folder_with_a_foreign_file_is_refused(ray_session, corpus, tmp_path):
    first = run_train("sequence_if_counts", corpus, tmp_path / "model")
    again = run_train("sequence_if_counts", corpus, tmp_path / "model")
    assert again.get("skipped") and again["threshold"] == first["threshold"]
    other = run_train("sequence_if_counts", corpus, tmp_path / "model", {"params": {"n_estimators": 20}})
    assert not other.get("skipped")
    TrainedModel.load(tmp_path / "model")
    (tmp_path / "model" / "evil.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="evil.pkl"):
        TrainedModel.load(tmp_path / "model")


def test_novelty_detectors_learn_from_normal_train_rows_only(ray_session, corpus, tmp_path):
    s = run_train("sequence_oov_counts", corpus, tmp_path / "oov")
    train = make_sequences(300, seed=1).filter(pc.equal(make_sequences(300, seed=1).column("split"), "train"))
    n_normal = int(pc.sum(pc.equal(train.column("label"), 0)).as_py())
    assert s["train_rows"] == n_normal and s["train_anomalous"] == 0


def test_event_level_threshold_is_chosen_on_session_scores(ray_session, corpus, tmp_path):
    s = run_train("event_lr_words", corpus, tmp_path / "ev")
    # validation metrics are per session (60 of them), not per line
    assert s["validation"]["n"] == 60
    m = run_score(tmp_path / "ev", corpus, tmp_path / "scores", {"split": "val"})
    scores = read_scores(tmp_path / "scores")
    assert m["sessions"] == 60 and scores.num_rows == 60
    flagged = int(pc.sum(scores.column("is_anomaly")).as_py())
    assert flagged == s["validation"]["n_flagged"]
