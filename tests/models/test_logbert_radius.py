"""LogBERT's hypersphere rule: the radius chosen on validation, the one score it gives, and the
choice saved with the model."""

from __future__ import annotations

import numpy as np
import pytest

from logad.errors import ConfigError, InputError
from logad.models.base import Detector
from logad.models.logbert import radius_score
from logad.models.registry import DETECTORS
from logad.models.thresholds import choose_threshold, choose_variant
from tests.models.conftest import FAST_PARAMS, SEQ_FEATURE_NAMES, make_sequences


@pytest.fixture(scope="module")
def fitted():
    X, y = make_sequences(160, 30, seed=11)
    det = DETECTORS["logbert"](**FAST_PARAMS["logbert"])
    det.fit([x for x, label in zip(X, y) if label == 0], feature_names=SEQ_FEATURE_NAMES)
    X_val, _ = make_sequences(80, 0, seed=12)
    ratio, dist = det.session_parts(X_val)
    # a constructed validation split where the distance separates and the miss ratio does not:
    # the sessions farthest from the centre are called anomalous
    cut = np.unique(dist)[-4]
    y_val = (dist >= cut).astype(np.int64)
    return det, X_val, y_val, ratio, dist


def _tuned(fitted, **params):
    det, X_val, y_val, _, _ = fitted
    other = DETECTORS["logbert"](**{**FAST_PARAMS["logbert"], **params})
    other.__dict__.update({k: v for k, v in det.__dict__.items() if k.endswith("_")})
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


def test_on_without_both_classes_takes_the_fallback_quantile(fitted):
    _, X_val, _, _, dist = fitted
    on = DETECTORS["logbert"](**{**FAST_PARAMS["logbert"], "radius": "on"})
    on.__dict__.update({k: v for k, v in fitted[0].__dict__.items() if k.endswith("_")})
    choice = on.tune_on_validation(X_val, np.zeros(len(X_val), dtype=np.int64), "percentile")
    assert choice["quantile"] == 0.99 and on.radius_ == pytest.approx(np.quantile(dist, 0.99))
    auto, _ = _tuned(fitted)
    assert auto.tune_on_validation(X_val, np.zeros(len(X_val), dtype=np.int64))["rule"] == "off"


def test_the_choice_round_trips_through_save_and_load(fitted, tmp_path):
    _, X_val, _, _, _ = fitted
    tuned, choice = _tuned(fitted)
    tuned.save(tmp_path / "m")
    back = Detector.load(tmp_path / "m")
    assert back.radius_ == tuned.radius_ and back.radius_choice_ == choice
    np.testing.assert_array_equal(back.score_samples(X_val), tuned.score_samples(X_val))
    got = back.explain_sequences(X_val[:3])
    assert all(g["radius"] == tuned.radius_ and "distance" in g for g in got)
    # a refit forgets the radius
    X, y = make_sequences(40, 0, seed=13)
    assert not hasattr(back.fit(X, feature_names=SEQ_FEATURE_NAMES), "radius_")


def test_bad_radius_and_variants_are_refused(fitted):
    with pytest.raises(ConfigError, match="parameter radius"):
        DETECTORS["logbert"](**{**FAST_PARAMS["logbert"], "radius": "sometimes"}).fit(
            make_sequences(20, 0, seed=1)[0], feature_names=SEQ_FEATURE_NAMES)
    with pytest.raises(InputError, match="both classes"):
        choose_variant({"a": [0.1, 0.2]}, [0, 0])
