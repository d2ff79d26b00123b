"""Metrics against scikit-learn on hand examples; PSI; JSON-ready output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from logad.evaluate.metrics import (average_precision, compute_metrics, confusion,
                                    false_positive_rate, precision_at_k, precision_recall_f1,
                                    psi, psi_reference, recall_at_fpr, roc_auc, threshold_at_fpr)

HAND = [  # (y, scores): distinct scores, ties across classes, all ties
    ([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]),
    ([0, 1, 0, 1, 1, 0, 0], [1.0, 1.0, 2.0, 3.0, 3.0, 0.5, 2.0]),
    ([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]),
]


@pytest.mark.parametrize("y, scores", HAND)
@pytest.mark.parametrize("threshold", [0.3, 1.0, 2.5])
def test_threshold_metrics_match_sklearn(y, scores, threshold):
    y, s = np.array(y), np.array(scores)
    pred = (s > threshold).astype(int)
    p, r, f = precision_recall_f1(y, s, threshold)
    assert p == pytest.approx(skm.precision_score(y, pred, zero_division=0.0))
    assert r == pytest.approx(skm.recall_score(y, pred, zero_division=0.0))
    assert f == pytest.approx(skm.f1_score(y, pred, zero_division=0.0))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert confusion(y, pred) == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert false_positive_rate(y, s, threshold) == pytest.approx(fp / (fp + tn))


@pytest.mark.parametrize("y, scores", HAND)
def test_ranking_metrics_match_sklearn(y, scores):
    assert roc_auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores))
    assert average_precision(y, scores) == pytest.approx(skm.average_precision_score(y, scores))


def test_ranking_metrics_match_sklearn_on_random_ties():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 20, 500).astype(float)
    y = (rng.random(500) < s / 25).astype(int)
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))


def test_precision_at_k_by_hand():
    y = [0, 1, 1, 0, 1]
    s = [0.9, 0.8, 0.7, 0.1, 0.6]
    assert precision_at_k(y, s, 1) == 0.0
    assert precision_at_k(y, s, 3) == pytest.approx(2 / 3)
    assert precision_at_k(y, s, 10) == pytest.approx(3 / 5)  # k capped at n
    assert math.isnan(precision_at_k(y, s, 0))


def test_recall_at_fpr_reads_the_roc_curve_conservatively():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.2).astype(int)
    s = rng.normal(size=400) + 2 * y
    fpr, tpr, _ = skm.roc_curve(y, s)
    for alpha in (0.01, 0.05, 0.2):
        out = recall_at_fpr(y, s, alpha)
        assert out["fpr"] <= alpha
        assert out["recall"] == pytest.approx(tpr[fpr <= alpha].max())
    assert threshold_at_fpr([1.0, 2.0, 3.0, 4.0], 0.0) == 4.0


def test_psi_zero_for_identical_and_large_for_shifted():
    rng = np.random.default_rng(2)
    train = rng.normal(size=5000)
    assert psi(train, train) == 0.0
    assert psi(train, rng.permutation(train)) == 0.0
    assert psi(train, rng.normal(size=5000)) < 0.02
    assert psi(train, rng.normal(loc=0.5, size=5000)) > 0.1
    ref = psi_reference(train)
    shifted = rng.normal(loc=1.0, size=3000)
    assert psi(ref, shifted) == psi(train, shifted)
    assert len(ref["proportions"]) == len(ref["edges"]) + 1 == 10
    assert sum(ref["proportions"]) == pytest.approx(1.0)


def test_psi_with_tied_training_scores():
    train = np.r_[np.zeros(900), np.ones(100)]  # one score holds most of the mass
    ref = psi_reference(train)
    assert ref["edges"] == [0.0] and ref["proportions"] == pytest.approx([0.9, 0.1])
    assert psi(ref, train) == 0.0
    assert psi(ref, np.ones(50)) > 1.0


def test_compute_metrics_is_consistent_and_json_ready():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.15).astype(int)
    s = rng.random(300) + y
    out = compute_metrics(y, s, 0.9, train_scores=rng.random(500), k=[10, 50])
    json.dumps(out, allow_nan=False)
    assert out["n"] == 300 and out["n_anomalous"] == y.sum()
    assert out["tp"] + out["fp"] == out["n_flagged"] == (s > 0.9).sum()
    assert out["f1"] == pytest.approx(skm.f1_score(y, s > 0.9))
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert out["pr_auc"] == pytest.approx(skm.average_precision_score(y, s))
    assert out["precision_at_50"] == pytest.approx(precision_at_k(y, s, 50))
    assert {"recall_at_fpr_0.01", "recall_at_fpr_0.05", "psi", "score_quantiles"} <= set(out)
    assert out["psi"] > 0.1  # scores of anomalies reach above the training range
    assert out["notes"] == []
    assert compute_metrics(y, s, 0.9)["r_precision"] == pytest.approx(precision_at_k(y, s, y.sum()))


def test_single_class_labels_do_not_crash():
    y = np.zeros(50, dtype=int)
    s = np.linspace(0, 1, 50)
    assert math.isnan(roc_auc(y, s)) and math.isnan(average_precision(y, s))
    out = compute_metrics(y, s, 0.5)
    json.dumps(out, allow_nan=False)
    assert out["roc_auc"] is None and out["pr_auc"] is None
    assert any("only normal" in note for note in out["notes"])
    assert out["fp"] == (s > 0.5).sum() and out["fpr"] == pytest.approx((s > 0.5).mean())


def test_unlabelled_scores_give_drift_only():
    s = np.linspace(0, 1, 20)
    out = compute_metrics(None, s, 0.5, train_scores=s)
    assert out["psi"] == 0.0 and "f1" not in out
    assert out["notes"] == ["no labels: only score statistics and drift"]


def test_no_flagged_rows_sets_precision_zero_with_a_note():
    out = compute_metrics([0, 1, 0], [0.1, 0.2, 0.3], 1.0)
    assert out["precision"] == 0.0 and out["n_flagged"] == 0
    assert any("no row is above" in note for note in out["notes"])


def test_only_anomalous_labels_give_no_pr_auc_as_the_note_says():
    y = np.ones(20, dtype=int)
    out = compute_metrics(y, np.linspace(0, 1, 20), 0.5)
    assert any("pr_auc" in note and "undefined" in note for note in out["notes"])
    assert out["pr_auc"] is None and out["roc_auc"] is None
