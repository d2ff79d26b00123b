"""Model folders: safe formats only, allowlisted skops types, sequence detectors fit in."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from logad.errors import InputError, ModelError
from logad.models import registry
from logad.models.base import Detector
from logad.models.dt import DTDetector
from logad.models.folder import MODEL_FILE
from logad.models.registry import load_detector
from logad.models.weights import load_npy, save_npy
from logad.models.lr import LRDetector
from logad.models.oov import OOVDetector
from logad.models.pca import PCADetector
from tests.models.conftest import make_counts


@pytest.fixture(scope="module")
def data():
    return make_counts(100, 20, seed=11)


def test_skops_file_with_types_outside_the_allowlist_is_refused(data, tmp_path):
    X, y = data
    path = tmp_path / "lr"
    LRDetector().fit(X, y).save(path)
    # an LR folder whose estimator file holds a tree: sklearn.tree._tree.Tree is not allowed for lr
    sio.dump(DecisionTreeClassifier().fit(X, y), path / "estimator.skops")
    with pytest.raises(ModelError, match="outside the allowlist: sklearn.tree._tree.Tree"):
        load_detector(path)


def test_skops_file_holding_another_class_is_refused(data, tmp_path):
    X, y = data
    path = tmp_path / "dt"
    DTDetector().fit(X, y).save(path)
    sio.dump(LogisticRegression().fit(X, y), path / "estimator.skops")
    with pytest.raises(ModelError, match="expected DecisionTreeClassifier"):
        load_detector(path)


def test_corrupt_skops_file_is_refused(data, tmp_path):
    X, y = data
    path = tmp_path / "lr"
    LRDetector().fit(X, y).save(path)
    (path / "estimator.skops").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a readable skops file"):
        load_detector(path)


def test_npy_holding_objects_is_refused(data, tmp_path):
    X, _ = data
    path = tmp_path / "oov"
    OOVDetector().fit(X).save(path)
    np.save(path / "unseen.npy", np.array([{"a": 1}] * X.shape[1], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="not a plain numeric .npy"):
        load_detector(path)
    with pytest.raises(ModelError, match="refusing to write object array"):
        save_npy(tmp_path, "x.npy", np.array([object()]))


def test_npy_with_wrong_shape_is_refused(data, tmp_path):
    X, _ = data
    path = tmp_path / "pca"
    PCADetector().fit(X).save(path)
    np.save(path / "mean.npy", np.zeros(3))
    with pytest.raises(ModelError, match=r"mean.npy: array of shape \(3,\)"):
        load_detector(path)
    save_npy(tmp_path, "ok.npy", np.arange(4.0))
    assert load_npy(tmp_path, "ok.npy", (None,)).tolist() == [0.0, 1.0, 2.0, 3.0]


def test_not_a_model_folder_and_bad_yaml(tmp_path, data):
    with pytest.raises(ModelError, match="not a model folder"):
        load_detector(tmp_path)
    X, _ = data
    path = tmp_path / "m"
    OOVDetector().fit(X).save(path)
    (path / MODEL_FILE).write_text("detector: [unclosed")
    with pytest.raises(ModelError, match="not valid YAML"):
        load_detector(path)
    (path / MODEL_FILE).write_text("detector: oov\n")
    with pytest.raises(ModelError, match="missing key"):
        load_detector(path)


def test_yaml_tags_are_not_executed(tmp_path, data):
    X, _ = data
    path = tmp_path / "m"
    OOVDetector().fit(X).save(path)
    text = (path / MODEL_FILE).read_text()
    evil = "detector: !!python/object/apply:os.getcwd []"
    (path / MODEL_FILE).write_text(text.replace("detector: oov", evil))
    with pytest.raises(ModelError, match="not valid YAML"):
        load_detector(path)


def test_subfolder_and_unknown_params_are_refused(tmp_path, data):
    X, _ = data
    path = tmp_path / "m"
    OOVDetector().fit(X).save(path)
    (path / "nested").mkdir()
    with pytest.raises(ModelError, match="unexpected file 'nested'"):
        load_detector(path)
    (path / "nested").rmdir()
    meta = yaml.safe_load((path / MODEL_FILE).read_text())
    meta["params"]["shell"] = "rm -rf /"
    (path / MODEL_FILE).write_text(yaml.safe_dump(meta))
    with pytest.raises(ModelError, match="unknown parameter"):
        load_detector(path)


def test_save_replaces_an_existing_folder_atomically(tmp_path, data):
    X, y = data
    path = tmp_path / "m"
    OOVDetector().fit(X).save(path)
    LRDetector().fit(X, y).save(path)
    assert sorted(p.name for p in path.iterdir()) == ["estimator.skops", MODEL_FILE]
    assert isinstance(load_detector(path), LRDetector)
    with pytest.raises(ModelError, match="holds a LRDetector, not a OOVDetector"):
        OOVDetector.load(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


class _LengthDetector(Detector):
    """A toy ``input_kind="sequence"`` detector: score = sequence length (or share of id 0)."""

    name: ClassVar[str] = "toy_seq"
    input_kind: ClassVar[str] = "sequence"
    weight_files: ClassVar[tuple[str, ...]] = ("lengths.npy",)

    def __init__(self, *, contamination=0.1):
        self.contamination = contamination

    def _fit(self, X, y):
        self.lengths_ = np.array([len(s) for s in X], dtype=np.float64)
        return None

    def _score(self, X):
        mean = self.lengths_.mean()
        return np.array([abs(len(s) - mean) for s in X], dtype=np.float64)

    def _save_weights(self, folder):
        save_npy(folder, "lengths.npy", self.lengths_)

    def _load_weights(self, folder):
        self.lengths_ = load_npy(folder, "lengths.npy")


def test_sequence_detectors_fit_the_same_interface(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 5, rng.integers(3, 12)) for _ in range(60)]
    det = _LengthDetector().fit(seqs, feature_names=["<unk>", "a", "b", "c", "d"])
    assert det.n_features_in_ == 5
    scores = det.score_samples(seqs)
    assert scores.dtype == np.float64 and scores.shape == (60,)
    det.chunk_rows = 7
    np.testing.assert_array_equal(det.score_samples(seqs), scores)
    del det.chunk_rows
    with pytest.raises(InputError, match="outside \\[0, 5\\)"):
        det.score_samples([np.array([1, 9])])
    with pytest.raises(InputError, match="integer event ids"):
        det.score_samples([np.array([0.5])])
    monkeypatch.setitem(registry.DETECTORS, "toy_seq", _LengthDetector)
    back = load_detector(det.save(tmp_path / "seq"))
    np.testing.assert_array_equal(back.score_samples(seqs), scores)
    meta = yaml.safe_load((tmp_path / "seq" / MODEL_FILE).read_text())
    assert meta["input_kind"] == "sequence"
    monkeypatch.delitem(registry.DETECTORS, "toy_seq")
    with pytest.raises(ModelError, match="'toy_seq' is not registered"):
        load_detector(tmp_path / "seq")
