"""Thresholds: the fit-time contamination rule and the three validation rules."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from logad.errors import ConfigError, InputError
from logad.models import thresholds
from logad.models.folder import SWEEP_FILE
from logad.models.registry import load_detector
from logad.models.lr import LRDetector
from logad.models.thresholds import (choose_threshold, contamination_threshold, threshold_sweep,
                                     tune_threshold)
from tests.models.conftest import make_counts


def _f1_at(scores, y, t):
    return f1_score(y, (scores > t).astype(int), zero_division=0.0)


def test_contamination_threshold_flags_that_share():
    scores = np.random.default_rng(0).normal(size=1000)
    for c in (0.01, 0.1, 0.5):
        assert np.mean(scores > contamination_threshold(scores, c)) == pytest.approx(c, abs=0.002)


def test_best_f1_on_hand_built_example():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1])
    # by hand: flagging >= 0.3 gives tp 4, fp 2 -> F1 0.8; every other cut is lower
    thr, sweep = choose_threshold(scores, y, "best_f1")
    assert 0.2 <= thr < 0.3
    assert _f1_at(scores, y, thr) == pytest.approx(0.8)
    best_possible = max(_f1_at(scores, y, t) for t in np.r_[0.0, scores])
    assert _f1_at(scores, y, thr) == pytest.approx(best_possible)
    assert sweep["f1"].max() == pytest.approx(0.8)


def test_sweep_matches_sklearn_at_every_threshold():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 12, 200).astype(float)  # many ties
    y = (rng.random(200) < 0.2 + 0.05 * scores).astype(int)
    sweep = threshold_sweep(scores, y)
    assert list(sweep.columns) == ["threshold", "n_flagged", "tp", "fp", "precision", "recall",
                                   "f1", "fpr"]
    assert sweep["threshold"].is_monotonic_increasing
    for row in sweep.itertuples():
        pred = (scores > row.threshold).astype(int)
        assert row.n_flagged == pred.sum()
        assert row.recall == pytest.approx(recall_score(y, pred))
        assert row.f1 == pytest.approx(f1_score(y, pred, zero_division=0.0))
        assert row.fpr == pytest.approx(pred[y == 0].mean())
        if pred.any():
            assert row.precision == pytest.approx(precision_score(y, pred))
        else:
            assert np.isnan(row.precision)


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.05, 0.2, 1.0])
def test_fpr_method_bounds_false_positive_rate(alpha):
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=500), 2)  # ties on purpose
    y = (rng.random(500) < 0.1).astype(int)
    scores[y == 1] += 2
    thr, _ = choose_threshold(scores, y, "fpr", alpha=alpha)
    normals = scores[y == 0]
    assert np.mean(normals > thr) <= alpha
    lower = normals[normals < thr]
    if lower.size:  # the next lower cut would break the bound: thr is the lowest that keeps it
        assert np.mean(normals > lower.max()) > alpha


def test_percentile_method_uses_normals_only():
    rng = np.random.default_rng(3)
    scores = rng.random(1000)
    y = np.zeros(1000, dtype=int)
    y[:100] = 1
    scores[:100] += 10  # anomalies must not move the cut
    thr, _ = choose_threshold(scores, y, "percentile", q=95)
    assert thr == pytest.approx(np.percentile(scores[y == 0], 95))
    thr_unlabelled, _ = choose_threshold(scores[y == 0], None, "percentile", q=95)
    assert thr_unlabelled == pytest.approx(thr)


def test_errors_are_clear():
    with pytest.raises(InputError, match="both normal"):
        choose_threshold([0.1, 0.2], [0, 0], "best_f1")
    with pytest.raises(InputError, match="both normal"):
        choose_threshold([0.1, 0.2], None, "best_f1")
    with pytest.raises(ConfigError, match="youden"):
        choose_threshold([0.1, 0.2], [0, 1], "youden")
    with pytest.raises(InputError, match="normal"):
        choose_threshold([0.1, 0.2], [1, 1], "fpr")
    with pytest.raises(ConfigError, match="q must be"):
        choose_threshold([0.1, 0.2], [0, 1], "percentile", q=0)
    with pytest.raises(InputError, match="2 labels for 3"):
        choose_threshold([0.1, 0.2, 0.3], [0, 1], "best_f1")


def test_functions_take_validation_data_only():
    params = list(inspect.signature(choose_threshold).parameters)
    assert params[:3] == ["scores_val", "y_val", "method"]
    assert list(inspect.signature(tune_threshold).parameters)[:3] == ["detector", "X_val", "y_val"]
    assert not [name for f in (choose_threshold, tune_threshold, threshold_sweep)
                for name in inspect.signature(f).parameters if "test" in name]
    assert not [name for name in thresholds.__all__ if "test" in name]


def test_tune_threshold_scores_only_the_validation_split(tmp_path):
    X, y = make_counts(150, 30, seed=4)
    X_val, y_val = make_counts(80, 20, seed=5)
    det = LRDetector().fit(X, y)
    seen = []
    score = det.score_samples
    det.score_samples = lambda Z: seen.append(Z) or score(Z)
    sweep = tune_threshold(det, X_val, y_val, "best_f1")
    del det.score_samples
    assert len(seen) == 1 and seen[0] is X_val
    expected, _ = choose_threshold(det.score_samples(X_val), y_val, "best_f1")
    assert det.threshold_ == expected and det.threshold_method_ == "best_f1"
    back = load_detector(det.save(tmp_path / "m"))
    assert (tmp_path / "m" / SWEEP_FILE).is_file()
    assert back.threshold_ == expected
    assert back.threshold_sweep_["f1"].to_numpy() == pytest.approx(sweep["f1"].to_numpy())
    tune_threshold(det, X_val, y_val, "fpr", alpha=0.05)
    assert det.threshold_method_ == "fpr:alpha=0.05"


def test_sweep_is_thinned_but_keeps_the_chosen_row():
    rng = np.random.default_rng(6)
    scores = rng.random(3000)
    y = (rng.random(3000) < scores ** 4).astype(int)
    thr, sweep = choose_threshold(scores, y, "best_f1", max_rows=100)
    assert len(sweep) <= 101
    assert thr in sweep["threshold"].to_numpy()
