"""Every named model: featurize → fit → save → load → identical scores, without Ray."""

from __future__ import annotations

import numpy as np
import pytest

from logad.config import load_yaml
from logad.features import make_featurizer_from_config
from logad.models.registry import MODELS, build_detector
from logad.models.trained import TrainedModel, featurize, labels_of
from tests.scoring.factory import make_sequences


@pytest.fixture(scope="module")
def table():
    return make_sequences(160, seed=4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_named_model_round_trips(table, tmp_path, name):
    spec = MODELS[name]
    features_cfg = load_yaml("features.yaml")
    featurizers = [make_featurizer_from_config(k, features_cfg, level=spec.level).fit(table)
                   for k in spec.feature_kinds]
    train = table.filter(np.asarray(table.column("split").to_pylist()) == "train")
    X, names, unknown = featurize(featurizers, train)
    y = labels_of(train, spec.level)
    det = build_detector(spec, {})
    det.fit(X, y if det.supervised else None, feature_names=names)
    model = TrainedModel(spec, featurizers, det)
    scores, unk = model.score(table)
    rows = table.num_rows if spec.level == "sequence" else sum(table.column("seq_len").to_pylist())
    assert scores.dtype == np.float64 and len(scores) == len(unk) == rows
    model.save(tmp_path / name, extra={"note": "test"})
    again = TrainedModel.load(tmp_path / name)
    assert again.spec == spec
    np.testing.assert_array_equal(again.score(table)[0], scores)
    assert again.detector.threshold_ == det.threshold_
