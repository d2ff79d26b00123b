"""Detector-specific behaviour: each one against its reference implementation or a hand example."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import chi2

from logad.errors import ConfigError, InputError
from logad.models.baseline import BaselineDetector, ewm_profile, tv_distance
from logad.models.dt import DTDetector
from logad.models.iforest import IForestDetector
from logad.models.lr import LRDetector
from logad.models.oov import OOVDetector
from logad.models.pca import PCADetector, q_statistic
from logad.models.rf import RFDetector
from logad.models.xgb import XGBDetector
from tests.models.conftest import make_counts


@pytest.fixture(scope="module")
def data():
    return make_counts(150, 30, seed=3)


# ---------------------------------------------------------------- oov
def test_oov_scores_unseen_share_and_unk_column():
    X = np.array([[2.0, 1.0, 0.0, 0.0], [1.0, 3.0, 0.0, 0.0]])
    det = OOVDetector().fit(X, feature_names=["a", "b", "c", "<unk>"])
    assert det.unseen_.tolist() == [False, False, True, True]
    Xt = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    assert det.score_samples(Xt).tolist() == [0.0, 0.5, 0.0]
    assert det.predict(Xt).tolist() == [0, 1, 0]
    counts = OOVDetector(normalize=False).fit(X).score_samples(Xt)
    assert counts.tolist() == [0.0, 2.0, 0.0]


def test_oov_unk_column_counts_even_when_seen():
    X = np.array([[2.0, 1.0], [1.0, 1.0]])
    det = OOVDetector().fit(X, feature_names=["a", "<unk>"])
    assert det.score_samples(X).tolist() == [1 / 3, 0.5]


def test_counts_detectors_refuse_negative_values():
    for cls in (OOVDetector, BaselineDetector):
        with pytest.raises(InputError, match="negative"):
            cls().fit(np.array([[1.0, -1.0], [0.0, 1.0]]))


# ---------------------------------------------------------------- baseline
def test_ewm_profile_matches_pandas():
    rng = np.random.default_rng(0)
    P = rng.random((40, 5))
    expected = pd.DataFrame(P).ewm(alpha=0.2, adjust=True).mean().iloc[-1].to_numpy()
    np.testing.assert_allclose(ewm_profile(P, 0.2), expected, rtol=1e-12)
    np.testing.assert_allclose(ewm_profile(sp.csr_matrix(P), 0.2), expected, rtol=1e-12)


def test_tv_distance_sparse_equals_dense():
    rng = np.random.default_rng(1)
    P = rng.random((30, 6)) * (rng.random((30, 6)) > 0.5)
    m = rng.random(6)
    dense = tv_distance(P, m)
    np.testing.assert_allclose(tv_distance(sp.csr_matrix(P), m), dense, rtol=1e-12)
    np.testing.assert_allclose(dense, 0.5 * np.abs(P - m).sum(axis=1))


def test_baseline_score_is_new_ratio_plus_shift():
    X = np.array([[2.0, 2.0, 0.0]] * 10)
    det = BaselineDetector(shift_weight=2.0).fit(X)
    np.testing.assert_allclose(det.profile_, [0.5, 0.5, 0.0])
    row = np.array([[1.0, 0.0, 1.0]])  # profile (0.5, 0, 0.5): new ratio 0.5, TV 0.5
    assert det.score_samples(row)[0] == pytest.approx(0.5 + 2.0 * 0.5)
    assert BaselineDetector(shift_weight=0.0).fit(X).score_samples(row)[0] == pytest.approx(0.5)


def test_baseline_recent_rows_weigh_more():
    old, new = np.array([[1.0, 0.0]] * 50), np.array([[0.0, 1.0]] * 50)
    det = BaselineDetector(alpha=0.1).fit(np.vstack([old, new]))
    assert det.profile_[1] > 0.99
    assert det.score_samples(new[:1])[0] < det.score_samples(old[:1])[0]


def test_baseline_rejects_bad_alpha():
    with pytest.raises(ConfigError, match=r"alpha.*1\.0"):
        BaselineDetector(alpha=1.0).fit(np.ones((3, 2)))


# ---------------------------------------------------------------- pca
def test_pca_spe_matches_sklearn_reconstruction(data):
    from sklearn.decomposition import PCA

    X, _ = data
    det = PCADetector(n_components=3).fit(X)
    ref = PCA(n_components=3, svd_solver="full").fit(X)
    resid = X - ref.inverse_transform(ref.transform(X))
    np.testing.assert_allclose(det.score_samples(X), (resid ** 2).sum(axis=1), rtol=1e-6, atol=1e-8)


def test_pca_variance_fraction_and_sparse_fit(data):
    X, _ = data
    det = PCADetector(n_components=0.9).fit(X)
    assert det.explained_variance_ratio_ >= 0.9
    fewer = PCADetector(n_components=det.n_components_ - 1).fit(X)
    assert fewer.explained_variance_ratio_ < 0.9
    sparse = PCADetector(n_components=0.9).fit(sp.csr_matrix(X))
    assert sparse.n_components_ == det.n_components_
    np.testing.assert_allclose(sparse.score_samples(X), det.score_samples(X), rtol=1e-6, atol=1e-8)
    assert PCADetector(n_components=100).fit(X).n_components_ == X.shape[1] - 1


def test_q_statistic_is_close_to_chi_square_for_equal_eigenvalues():
    for r in (2, 5, 10):
        q = q_statistic(np.ones(r), 2.3263)  # 99 %
        assert q == pytest.approx(chi2.ppf(0.99, r), rel=0.03)
    assert np.isnan(q_statistic(np.zeros(3), 3.29))


def test_pca_auto_threshold_is_the_q_statistic(data):
    X, _ = data
    det = PCADetector().fit(X)
    assert det.threshold_ == det.q_threshold_ and det.threshold_method_ == "auto:Q-statistic"
    det2 = PCADetector(contamination=0.1).fit(X)
    assert np.mean(det2.score_samples(X) > det2.threshold_) == pytest.approx(0.1, abs=0.02)


# ---------------------------------------------------------------- iforest
def test_iforest_scores_are_negated_sklearn_scores(data):
    X, _ = data
    det = IForestDetector(n_estimators=20, holdout_fraction=0.0).fit(X)
    np.testing.assert_array_equal(det.score_samples(X), -det.estimator_.score_samples(X))
    assert np.all((det.score_samples(X) > 0) & (det.score_samples(X) <= 1))


def test_iforest_threshold_from_holdout_percentile(data):
    X, _ = data
    det = IForestDetector(n_estimators=20, contamination=0.1, holdout_fraction=0.3,
                          random_state=5).fit(X)
    hold = np.sort(np.random.default_rng(5).permutation(len(X))[:int(0.3 * len(X))])
    expected = np.quantile(det.score_samples(X[hold]), 0.9)
    assert det.threshold_ == pytest.approx(expected)
    assert det.estimator_.max_samples_ == len(X) - len(hold)  # the forest never saw the holdout
    assert IForestDetector(n_estimators=5, contamination="auto").fit(X).threshold_ == 0.5


@pytest.mark.parametrize("params, pattern", [({"max_samples": 0}, "max_samples.*0"),
                                             ({"holdout_fraction": 0.9}, "holdout_fraction.*0.9"),
                                             ({"random_state": -1}, "random_state.*-1")])
def test_iforest_param_errors_name_the_param(params, pattern):
    with pytest.raises(ConfigError, match=pattern):
        IForestDetector(**params).fit(np.ones((5, 2)))


# ---------------------------------------------------------------- supervised
@pytest.mark.parametrize("cls", [LRDetector, DTDetector, RFDetector])
def test_sklearn_classifiers_score_is_anomaly_probability(cls, data):
    X, y = data
    det = cls(**({"n_estimators": 10} if cls is RFDetector else {})).fit(X, y)
    np.testing.assert_allclose(det.score_samples(X), det.estimator_.predict_proba(X)[:, 1],
                               rtol=1e-12, atol=1e-15)
    assert det.threshold_ == 0.5 and det.threshold_method_ == "auto:probability 0.5"


def test_contamination_quantile_for_supervised(data):
    X, y = data
    det = LRDetector(contamination=0.2).fit(X, y)
    assert np.mean(det.score_samples(X) > det.threshold_) == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("cls, params, pattern", [
    (LRDetector, {"C": 0}, r"parameter C .*got 0"),
    (LRDetector, {"class_weight": {0: 1}}, "class_weight"),
    (DTDetector, {"max_depth": 0}, "max_depth.*0"),
    (RFDetector, {"max_features": "all"}, "max_features.*'all'"),
    (XGBDetector, {"learning_rate": 2.0}, r"learning_rate.*2\.0"),
    (XGBDetector, {"scale_pos_weight": "balanced"}, "scale_pos_weight.*'balanced'"),
])
def test_supervised_param_errors_name_the_param(cls, params, pattern, data):
    X, y = data
    with pytest.raises(ConfigError, match=pattern):
        cls(**params).fit(X, y)


def test_xgb_auto_class_weight_and_json_weights(data, tmp_path):
    X, y = data
    det = XGBDetector(n_estimators=10, scale_pos_weight="auto").fit(X, y)
    assert det.scale_pos_weight_ == pytest.approx((y == 0).sum() / (y == 1).sum())
    det.save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert "learner" in doc


def test_pca_without_residual_variance_falls_back_to_max_training_spe():
    X = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])  # rank one: nothing left in the residual
    det = PCADetector(n_components=1).fit(X)
    assert np.isnan(det.q_threshold_)
    assert det.threshold_ == pytest.approx(det.score_samples(X).max())
    assert det.predict(np.array([[1.0, -2.0]])).tolist() == [1]


def test_xgb_zero_as_missing_decides_where_an_unseen_zero_goes():
    # normals have feature 0 in {1, 2}, anomalies in {5, 6}: no zero in training
    X = np.array([[1.0, 1], [2, 1], [1, 2], [2, 2], [5, 1], [6, 2], [5, 2], [6, 1]] * 5)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1] * 5)
    lacking = np.array([[0.0, 1.0], [0.0, 2.0]])  # rows that lack the event entirely
    scores = {}
    for z in (True, False):
        det = XGBDetector(n_estimators=20, zero_as_missing=z).fit(X, y)
        dense, sparse = det.score_samples(lacking), det.score_samples(sp.csr_matrix(lacking))
        np.testing.assert_array_equal(dense, sparse)  # one representation either way
        scores[z] = dense
    # as a value, 0 lies below every normal count, so it scores like the normals
    normal_score = XGBDetector(n_estimators=20, zero_as_missing=False).fit(X, y) \
        .score_samples(np.array([[1.0, 1.0]]))[0]
    np.testing.assert_allclose(scores[False], normal_score)
    # as missing, it follows the learnt default branch instead
    assert not np.allclose(scores[True], scores[False])
    with pytest.raises(ConfigError, match="zero_as_missing"):
        XGBDetector(zero_as_missing="no").fit(X, y)


def test_lr_cv_chooses_C_on_training_folds_and_keeps_it(data, tmp_path):
    X, y = data
    det = LRDetector(C="cv", Cs=[0.001, 1000.0], cv=3).fit(X, y)
    assert det.C_ in (0.001, 1000.0)
    fixed = LRDetector(C=det.C_).fit(X, y)  # same as fitting with the chosen C
    np.testing.assert_allclose(det.score_samples(X), fixed.score_samples(X))
    det.save(tmp_path / "m")
    back = LRDetector.load(tmp_path / "m")
    assert back.C_ == det.C_
    np.testing.assert_allclose(back.score_samples(X), det.score_samples(X))
    # one anomaly: nothing to cross-validate, C falls back to 1.0
    y1 = np.zeros_like(y)
    y1[0] = 1
    assert LRDetector(C="cv").fit(X, y1).C_ == 1.0
    with pytest.raises(ConfigError, match="Cs"):
        LRDetector(C="cv", Cs=[]).fit(X, y)
