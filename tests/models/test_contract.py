"""One contract suite over every registered detector (sklearn's parametrize_with_checks idea)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from logad.errors import ConfigError, InputError, ModelError
from logad.evaluate.metrics import roc_auc
from logad.models.base import Detector, NotFittedError
from logad.models.folder import MODEL_FILE
from logad.models.registry import load_detector
from logad.models.registry import DETECTORS
from tests.models.conftest import (FAST_PARAMS, FEATURE_NAMES, N_FEATURES, SEQ_FEATURE_NAMES,
                                   fit_detector, training_rows)

NAMES = sorted(DETECTORS)
MATRIX = [n for n in NAMES if DETECTORS[n].input_kind == "matrix"]
SEQUENCE = [n for n in NAMES if DETECTORS[n].input_kind == "sequence"]
ROC_FLOOR = 0.8


@pytest.fixture(scope="module")
def data(counts_split, seq_split):
    """The split each input kind reads: event-count rows, or event-id sessions (same vocabulary
    size, so the feature-count checks read the same)."""
    return {"matrix": counts_split, "sequence": seq_split}


def _split(name, data):
    return data[DETECTORS[name].input_kind]


def _names(name):
    return SEQ_FEATURE_NAMES if DETECTORS[name].input_kind == "sequence" else FEATURE_NAMES


def _fit(name, data, **kw):
    det = DETECTORS[name](**FAST_PARAMS.get(name, {}))
    X, y = training_rows(name, det.supervised, _split(name, data))
    return det.fit(X, y, feature_names=_names(name), **kw)


@pytest.fixture(scope="module")
def fitted(data):
    """One fitted detector per registered name (fitted once for the module)."""
    return {name: _fit(name, data) for name in NAMES}


def _fresh(name: str) -> Detector:
    return DETECTORS[name](**FAST_PARAMS.get(name, {}))


def _normalise(value):
    return yaml.safe_load(yaml.safe_dump(value))


def test_registry_is_explicit_and_consistent():
    assert set(FAST_PARAMS) <= set(DETECTORS)
    for name, cls in DETECTORS.items():
        assert issubclass(cls, Detector)
        assert cls.name == name
        assert cls.input_kind in ("matrix", "sequence")
        assert isinstance(cls.supervised, bool)


@pytest.mark.parametrize("name", NAMES)
def test_init_only_stores_params(name):
    cls = DETECTORS[name]
    det = cls(contamination=7)  # not checked before fit
    assert det.contamination == 7
    params = cls().get_params()
    assert cls(**params).get_params() == params
    assert not [a for a in vars(cls()) if a.endswith("_")]


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_sets_fitted_attributes(name, data):
    det = _fresh(name)
    X, y = training_rows(name, det.supervised, _split(name, data))
    assert det.fit(X, y, feature_names=_names(name)) is det
    assert det.n_features_in_ == N_FEATURES
    assert det.feature_names_in_ == _names(name)
    assert np.isfinite(det.threshold_)
    assert det.threshold_method_


@pytest.mark.parametrize("name", NAMES)
def test_use_before_fit_raises(name, data, tmp_path):
    det = _fresh(name)
    X = _split(name, data).X_test
    for call in (lambda: det.predict(X), lambda: det.score_samples(X),
                 lambda: det.save(tmp_path / "m")):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_float64_and_predict_applies_threshold(name, fitted, data):
    det = fitted[name]
    X_test = _split(name, data).X_test
    scores = det.score_samples(X_test)
    assert scores.dtype == np.float64 and scores.shape == (len(X_test),)
    assert np.all(np.isfinite(scores))
    pred = det.predict(X_test)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (scores > det.threshold_).astype(int))


@pytest.mark.parametrize("name", NAMES)
def test_empty_input_gives_empty_scores(name, fitted):
    scores = fitted[name].score_samples(np.zeros((0, N_FEATURES)))
    assert scores.dtype == np.float64 and scores.shape == (0,)
    empty = [] if DETECTORS[name].input_kind == "sequence" else sp.csr_matrix((0, N_FEATURES))
    assert fitted[name].predict(empty).shape == (0,)
    with pytest.raises(InputError, match="zero rows"):
        _fresh(name).fit(np.zeros((0, N_FEATURES)), np.zeros(0, dtype=int))


@pytest.mark.parametrize("name", SEQUENCE)
def test_sequence_id_outside_vocabulary_raises(name, fitted, seq_split):
    with pytest.raises(InputError, match=f"outside \\[0, {N_FEATURES}\\).*<unk>"):
        fitted[name].score_samples([np.array([1, 2, N_FEATURES])])
    with pytest.raises(InputError, match="integer event ids"):
        fitted[name].score_samples([np.array([1.5, 2.0])])
    with pytest.raises(InputError, match="list of event-id arrays"):
        fitted[name].score_samples(sp.csr_matrix((2, N_FEATURES)))


@pytest.mark.parametrize("name", MATRIX)
def test_wrong_feature_count_raises(name, fitted, counts_split):
    with pytest.raises(InputError, match=f"{N_FEATURES - 1} features.*fitted with {N_FEATURES}"):
        fitted[name].score_samples(counts_split.X_test[:, :-1])


@pytest.mark.parametrize("name", MATRIX)
def test_bad_input_raises(name, fitted):
    with pytest.raises(InputError, match="NaN"):
        fitted[name].score_samples(np.full((2, N_FEATURES), np.nan))
    with pytest.raises(InputError, match="2-D"):
        fitted[name].score_samples(np.ones(N_FEATURES))


@pytest.mark.parametrize("name", NAMES)
def test_invalid_contamination_named_at_fit(name, data):
    det = _fresh(name).set_params(contamination=0.9)
    with pytest.raises(ConfigError, match=r"contamination.*0\.9"):
        det.fit(_split(name, data).X_train, _split(name, data).y_train)
    with pytest.raises(ConfigError, match="unknown parameter"):
        _fresh(name).set_params(no_such_param=1)


@pytest.mark.parametrize("name", SEQUENCE)
def test_sequence_batch_invariance(name, fitted, seq_split):
    det = fitted[name]
    X = seq_split.X_test
    whole = det.score_samples(X)
    for size in (1, 7, 64):
        parts = np.concatenate([det.score_samples(X[i:i + size]) for i in range(0, len(X), size)])
        np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(det.score_samples(X[::-1])[::-1], whole)


@pytest.mark.parametrize("name", MATRIX)
def test_batch_invariance(name, fitted, counts_split):
    det = fitted[name]
    X = counts_split.X_test
    whole = det.score_samples(X)
    for size in (1, 7, 64):
        parts = np.concatenate([det.score_samples(X[i:i + size]) for i in range(0, len(X), size)])
        np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(det.score_samples(np.asfortranarray(X)), whole)
    Xs = sp.csr_matrix(X)
    whole_sparse = det.score_samples(Xs)
    parts = np.concatenate([det.score_samples(Xs[i:i + 9]) for i in range(0, len(X), 9)])
    np.testing.assert_array_equal(parts, whole_sparse)
    np.testing.assert_allclose(whole_sparse, whole, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_internal_chunking_does_not_change_scores(name, fitted, data):
    det = fitted[name]
    X_test = _split(name, data).X_test
    whole = det.score_samples(X_test)
    det.chunk_rows = 13  # instance attribute shadows the class default
    try:
        np.testing.assert_array_equal(det.score_samples(X_test), whole)
    finally:
        del det.chunk_rows


@pytest.mark.parametrize("name", MATRIX)
def test_sparse_training_input(name, counts_split):
    det = fit_detector(DETECTORS[name], counts_split, sparse=True)
    scores = det.score_samples(sp.csr_matrix(counts_split.X_test))
    assert roc_auc(counts_split.y_test, scores) >= ROC_FLOOR


@pytest.mark.parametrize("name", NAMES)
def test_quality_floor(name, fitted, data):
    split = _split(name, data)
    auc = roc_auc(split.y_test, fitted[name].score_samples(split.X_test))
    assert auc >= ROC_FLOOR, f"{name}: ROC-AUC {auc:.3f} below {ROC_FLOOR}"


@pytest.mark.parametrize("name", NAMES)
def test_save_load_gives_identical_scores(name, fitted, data, tmp_path):
    det = fitted[name]
    counts_split = _split(name, data)
    path = det.save(tmp_path / "model", extra={"features": "counts", "rows": 280})
    back = Detector.load(path)
    assert type(back) is type(det)
    assert _normalise(back.get_params()) == _normalise(det.get_params())
    np.testing.assert_array_equal(back.score_samples(counts_split.X_test),
                                  det.score_samples(counts_split.X_test))
    np.testing.assert_array_equal(back.predict(counts_split.X_test), det.predict(counts_split.X_test))
    assert back.threshold_ == det.threshold_
    assert back.threshold_method_ == det.threshold_method_
    assert back.feature_names_in_ == _names(name)
    assert back.metadata_["extra"] == {"features": "counts", "rows": 280}
    # re-saving a loaded model keeps its extra and its scores
    again = load_detector(back.save(tmp_path / "again"))
    assert again.metadata_["extra"] == {"features": "counts", "rows": 280}
    np.testing.assert_array_equal(again.score_samples(counts_split.X_test),
                                  det.score_samples(counts_split.X_test))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


@pytest.mark.parametrize("name", NAMES)
def test_model_yml_echoes_params_and_provenance(name, fitted, tmp_path):
    det = fitted[name]
    det.save(tmp_path / "m")
    meta = yaml.safe_load((tmp_path / "m" / MODEL_FILE).read_text())
    assert meta["detector"] == name
    assert meta["class"] == f"{type(det).__module__}.{type(det).__qualname__}"
    assert meta["params"] == _normalise(det.get_params())
    assert meta["threshold"] == det.threshold_
    assert meta["n_features_in"] == N_FEATURES and meta["feature_names"] == _names(name)
    assert meta["logad_version"] and meta["created"] and "git_commit" in meta
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == sorted([MODEL_FILE, *det.weight_files])


@pytest.mark.parametrize("name", NAMES)
def test_folder_with_foreign_file_is_refused(name, fitted, tmp_path):
    path = tmp_path / "m"
    fitted[name].save(path)
    (path / "extra.pkl").write_bytes(b"\x80\x04not a model")
    with pytest.raises(ModelError, match="unexpected file 'extra.pkl'"):
        load_detector(path)


@pytest.mark.parametrize("name", NAMES)
def test_unregistered_class_or_name_is_refused(name, fitted, tmp_path):
    path = tmp_path / "m"
    fitted[name].save(path)
    meta_path = path / MODEL_FILE
    meta = yaml.safe_load(meta_path.read_text())
    meta_path.write_text(yaml.safe_dump({**meta, "class": "subprocess.Popen"}))
    with pytest.raises(ModelError, match="not the registered class"):
        load_detector(path)
    meta_path.write_text(yaml.safe_dump({**meta, "detector": "evil"}))
    with pytest.raises(ModelError, match="'evil' is not registered"):
        load_detector(path)


@pytest.mark.parametrize("name", NAMES)
def test_missing_weights_and_version_warning(name, fitted, tmp_path):
    path = tmp_path / "m"
    fitted[name].save(path)
    meta_path = path / MODEL_FILE
    meta = yaml.safe_load(meta_path.read_text())
    meta_path.write_text(yaml.safe_dump({**meta, "logad_version": "0.0.1"}))
    with pytest.warns(UserWarning, match="logad 0.0.1"):
        load_detector(path)
    (path / fitted[name].weight_files[0]).unlink()
    with pytest.raises(ModelError, match="missing weight file"):
        load_detector(path)


@pytest.mark.parametrize("name", [n for n in NAMES if DETECTORS[n].supervised])
def test_supervised_needs_both_classes(name, data):
    X = _split(name, data).X_train
    with pytest.raises(InputError, match="only class 0"):
        _fresh(name).fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(InputError, match="needs labels"):
        _fresh(name).fit(X)
    with pytest.raises(InputError, match="only 0"):
        _fresh(name).fit(X, np.full(len(X), 2))


@pytest.mark.parametrize("name", NAMES)
def test_refit_replaces_previous_fit(name, fitted, data):
    split = _split(name, data)
    det = _fit(name, data)
    before = det.score_samples(split.X_test)
    det.set_threshold(1e9, method="manual")
    X, y = training_rows(name, det.supervised, split)
    assert det.fit(X, y, feature_names=_names(name)).threshold_ == fitted[name].threshold_
    assert det.threshold_method_ != "manual"
    np.testing.assert_array_equal(det.score_samples(split.X_test), before)
