"""The registry of detectors and named models, and parameter resolution from models.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from logad.errors import ConfigError
from logad.evaluate.metrics import roc_auc
from logad.models.registry import load_detector
from logad.models.registry import (DETECTORS, FEATURE_KINDS, MODELS, ModelSpec, build_detector,
                                   get_detector_class, get_model, load_models_config,
                                   resolve_params)
from tests.models.conftest import FAST_PARAMS, FEATURE_NAMES, SEQ_FEATURE_NAMES, training_rows


def test_models_are_valid_specs():
    assert MODELS, "no named models"
    for name, spec in MODELS.items():
        assert spec.name == name
        assert spec.level in ("event", "sequence")
        assert spec.detector in DETECTORS
        assert all(kind in FEATURE_KINDS for kind in spec.feature_kinds)
        assert spec.description and "\n" not in spec.description
    for required in ("event_lr_words", "event_dt_trigrams", "event_xgb_words", "sequence_lr_words",
                     "sequence_if_counts", "sequence_xgb_counts", "sequence_pca_counts",
                     "sequence_baseline_counts", "sequence_oov_counts", "sequence_rf_counts",
                     "sequence_dt_counts", "sequence_lr_counts", "sequence_if_tfidf"):
        assert required in MODELS
    assert MODELS["sequence_if_counts"].detector == "iforest"
    assert MODELS["sequence_xgb_counts_numeric"].feature_kinds == ("counts", "numeric")


def test_model_spec_is_frozen_and_checked():
    spec = MODELS["sequence_lr_counts"]
    with pytest.raises(AttributeError):
        spec.detector = "rf"
    with pytest.raises(TypeError):
        spec.params["C"] = 3.0
    with pytest.raises(ConfigError, match="features"):
        ModelSpec("x", "sequence", "counts+bogus", "lr", {}, "d")
    with pytest.raises(ConfigError, match="level"):
        ModelSpec("x", "window", "counts", "lr", {}, "d")
    with pytest.raises(ConfigError, match="unknown detector"):
        ModelSpec("x", "event", "counts", "svm", {}, "d")


def test_lookups_fail_clearly():
    assert get_detector_class("pca") is DETECTORS["pca"]
    with pytest.raises(ConfigError, match="unknown detector 'svm'"):
        get_detector_class("svm")
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        get_model("nope")


def test_resolve_params_order():
    spec = ModelSpec("sequence_lr_counts", "sequence", "counts", "lr", {"C": 2.0, "max_iter": 50}, "d")
    cfg = {"detectors": {"lr": {"C": 1.0, "tol": 0.01, "max_iter": 10}},
           "models": {"sequence_lr_counts": {"max_iter": 70}}}
    params = resolve_params(spec, cfg, overrides={"tol": 0.5, "C": None})
    assert params == {"C": 2.0, "tol": 0.5, "max_iter": 70}
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['depth'\]"):
        resolve_params(spec, cfg, overrides={"depth": 3})


def test_models_yaml_loads_and_names_only_known_things(tmp_path):
    cfg = load_models_config()
    assert set(cfg["detectors"]) <= set(DETECTORS)
    for name in MODELS:
        resolve_params(name, cfg)  # every default is a valid parameter
    bad = tmp_path / "models.yaml"
    bad.write_text("detectors:\n  svm: {}\n")
    with pytest.raises(ConfigError, match="unknown detector 'svm'"):
        load_models_config(bad)
    bad.write_text("threshold:\n  method: youden\n")
    with pytest.raises(ConfigError, match="threshold.method"):
        load_models_config(bad)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_named_model_fits_saves_and_loads_with_config_defaults(model, counts_split, seq_split,
                                                                     tmp_path):
    spec = MODELS[model]
    det = build_detector(model, overrides=FAST_PARAMS.get(spec.detector))
    assert det.name == spec.detector
    sequence = det.input_kind == "sequence"  # the torch models read event-id sessions
    split = seq_split if sequence else counts_split
    X, y = training_rows(det.name, det.supervised, split)
    det.fit(X, y, feature_names=SEQ_FEATURE_NAMES if sequence else FEATURE_NAMES)
    back = load_detector(det.save(tmp_path / model))  # skops allowlists cover configured params
    scores = back.score_samples(split.X_test)
    np.testing.assert_array_equal(scores, det.score_samples(split.X_test))
    assert roc_auc(split.y_test, scores) > 0.7


def test_detector_modules_are_imported_on_lookup_only():
    """Listing the registry imports no detector module; looking one up imports that one."""
    probe = ("import json, sys\n"
             "from logad.models.registry import DETECTORS, MODELS\n"
             "names = sorted(DETECTORS); assert 'pca' in DETECTORS and len(MODELS) > 10\n"
             "before = sorted(m for m in sys.modules if m.startswith('logad.models.'))\n"
             "DETECTORS['pca']\n"
             "after = sorted(m for m in sys.modules if m.startswith('logad.models.'))\n"
             "print(json.dumps([names, before, after]))\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=root, timeout=300)
    names, before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert names == sorted(DETECTORS) and "logad.models.registry" in before
    assert not [m for m in before if m.split(".")[-1] in DETECTORS], before
    assert "logad.models.pca" in after and "logad.models.xgb" not in after
    assert DETECTORS["pca"].__name__ == "PCADetector" and get_detector_class("pca") is DETECTORS["pca"]
