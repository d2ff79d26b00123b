"""LogBERT's hypersphere rule: the radius chosen on validation, the one score it gives, and the
choice saved with the model."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from logad.errors import ConfigError, InputError
from logad.models.base import Detector
from logad.models.logbert import radius_score
from logad.models.registry import DETECTORS
from logad.models.thresholds import choose_threshold, choose_variant
from tests.models.conftest import _SEQ_WORKFLOWS, FAST_PARAMS, SEQ_FEATURE_NAMES, make_sequences


@pytest.fixture(scope="module")
def fitted():
    X, y = make_sequences(160, 30, seed=11)
    det = DETECTORS["logbert"](**FAST_PARAMS["logbert"])
    det.fit([x for x, label in zip(X, y) if label == 0], feature_names=SEQ_FEATURE_NAMES)
    # a constructed validation split where the distance separates and the miss ratio does not:
    # normal sessions run 2-4 workflows; the "anomalies" run one workflow (or a cut one), events
    # the model predicts well in an order training never showed as a whole session
    normals, _ = make_sequences(80, 0, seed=12)
    odd = [np.array(w, dtype=np.int64) for w in _SEQ_WORKFLOWS] + [np.array([1, 2, 3, 3]),
                                                                     np.array([8, 9, 10, 11])]
    X_val = normals + odd
    y_val = np.array([0] * len(normals) + [1] * len(odd), dtype=np.int64)
    ratio, dist = det.session_parts(X_val)
    return det, X_val, y_val, ratio, dist


def _tuned(fitted, **params):
    det, X_val, y_val, _, _ = fitted
    other = copy.deepcopy(det).set_params(**params)
    choice = other.tune_on_validation(X_val, y_val, "best_f1")
    return other, choice


def test_radius_score_puts_every_beyond_radius_session_above_the_rest():
    s = radius_score([1.0, 0.0, 0.3], [1.0, 5.0, 2.01], 2.0)
    assert s[1] > s[2] > 2.0 > s[0] == 1.0
    np.testing.assert_array_equal(radius_score([0.2, 0.7], [9.0, 9.0], None), [0.2, 0.7])


def test_the_rule_changes_the_flags_where_distances_separate(fitted):
    det, X_val, y_val, ratio, dist = fitted
    f1_off = choose_variant({"off": ratio}, y_val)[1][0]["f1"]
    assert f1_off < 1.0  # the miss ratio alone does not find them
    before = det.score_samples(X_val)
    flags_before = before > choose_threshold(before, y_val)[0]
    tuned, choice = _tuned(fitted)
    assert choice["rule"] == "on" and choice["radius"] == tuned.radius_ > 0
    assert tuned.radius_ in [c["radius"] for c in det.radius_candidates_]  # from training
    assert dist[y_val == 1].min() > tuned.radius_ >= dist[y_val == 0].max()
    after = tuned.score_samples(X_val)
    flags_after = after > choose_threshold(after, y_val)[0]
    assert (flags_after == (y_val == 1)).all() and (flags_after != flags_before).any()
    assert [c["variant"] for c in choice["candidates"]][0] == "off"
    # the same choice every time (scoring is deterministic)
    assert _tuned(fitted)[1] == choice


def test_off_reproduces_the_miss_ratio(fitted):
    det, X_val, _, ratio, _ = fitted
    off, choice = _tuned(fitted, radius="off")
    assert choice["rule"] == "off" and off.radius_ is None
    np.testing.assert_array_equal(off.score_samples(X_val), ratio)
    np.testing.assert_array_equal(det.score_samples(X_val), ratio)  # a plain fit: no radius
    # YAML reads a bare `off` as false
    assert _tuned(fitted, radius=False)[1]["rule"] == "off"


def test_on_without_both_classes_keeps_the_fallback_quantile(fitted):
    det, X_val, _, _, _ = fitted
    normals = np.zeros(len(X_val), dtype=np.int64)
    on = copy.deepcopy(det).set_params(radius="on")
    choice = on.tune_on_validation(X_val, normals, "percentile")
    assert choice["quantile"] == 0.99 and on.radius_ == det._candidate(0.99) > 0
    assert _tuned(fitted)[0].tune_on_validation(X_val, normals)["rule"] == "off"
    # a plain fit: "auto" stays off, "on" takes the 0.99 quantile of the training distances
    X, y = make_sequences(40, 0, seed=13)
    refit = on.fit(X, feature_names=SEQ_FEATURE_NAMES)
    assert refit.radius_ == refit._candidate(0.99) and refit.radius_choice_["rule"] == "on"


def test_the_choice_round_trips_through_save_and_load(fitted, tmp_path):
    _, X_val, _, _, _ = fitted
    tuned, choice = _tuned(fitted)
    tuned.save(tmp_path / "m")
    back = Detector.load(tmp_path / "m")
    assert back.radius_ == tuned.radius_ and back.radius_choice_ == choice
    np.testing.assert_array_equal(back.score_samples(X_val), tuned.score_samples(X_val))
    got = back.explain_sequences(X_val[:3])
    assert all(g["radius"] == tuned.radius_ and "distance" in g for g in got)
    # a refit forgets the radius chosen on validation ("auto": off until it is tuned again)
    X, y = make_sequences(40, 0, seed=13)
    assert back.fit(X, feature_names=SEQ_FEATURE_NAMES).radius_ is None


def test_bad_radius_and_variants_are_refused(fitted):
    with pytest.raises(ConfigError, match="parameter radius"):
        DETECTORS["logbert"](**{**FAST_PARAMS["logbert"], "radius": "sometimes"}).fit(
            make_sequences(20, 0, seed=1)[0], feature_names=SEQ_FEATURE_NAMES)
    with pytest.raises(InputError, match="both classes"):
        choose_variant({"a": [0.1, 0.2]}, [0, 0])


def test_the_drift_reference_follows_the_chosen_radius(fitted):
    from logad.models.reference import psi_reference

    det = fitted[0]
    ratio, dist = det.session_parts([x for x, label in zip(*make_sequences(160, 30, seed=11)) if label == 0])
    off = _tuned(fitted, radius="off")[0]
    assert off.score_reference_ == det.score_reference_ == psi_reference(ratio)
    _, X_val, y_val = fitted[:3]
    fallback = copy.deepcopy(det).set_params(radius="on")
    fallback.tune_on_validation(X_val, np.zeros_like(y_val))  # one class: the fallback quantile
    for tuned in (_tuned(fitted)[0], fallback):
        assert tuned.radius_choice_["rule"] == "on"
        # the training sessions scored as the chosen rule scores them: drift compares like with like
        assert tuned.score_reference_ == psi_reference(radius_score(ratio, dist, tuned.radius_))
    assert (dist > tuned.radius_).any()  # some training sessions lie beyond the fallback radius
    assert tuned.score_reference_ != det.score_reference_
