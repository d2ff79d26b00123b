"""Grid search grouped by dataset, the thresholds, and the train run's outputs."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from logad.errors import ConfigError, InputError
from logad.parsing.masking import compile_passes
from logad.triage import train as T
from logad.triage.runs import masking_rules


@pytest.fixture(scope="module")
def corpus(small_labels, triage_cfg):
    t = pq.read_table(small_labels / "labels.parquet")
    s = T.TrainSettings.from_config(triage_cfg["train"])
    return T.Corpus.build(t["line"].to_pylist(), t["label"].to_pylist(), t["dataset"].to_pylist(),
                          compile_passes(masking_rules(triage_cfg)), s), s


def test_a_dataset_is_never_scored_by_a_model_that_saw_it(corpus):
    c, s = corpus
    _, oof = T.grid_search(c, s, n_splits=4)  # one fold per dataset
    # flip every label of one dataset: its own out-of-fold scores must not move
    y2 = c.y.copy()
    m = c.groups == "OpenSSH"
    y2[m] = 1 - y2[m]
    c2 = T.Corpus(c.raw, y2, c.groups, c.hc, c.word_counts, c.char_counts)
    _, oof2 = T.grid_search(c2, s, n_splits=4)
    key = next(iter(oof))
    assert np.array_equal(oof[key][m], oof2[key][m])
    assert not np.array_equal(oof[key][~m], oof2[key][~m])  # the others did see the flip


def test_grid_table_and_best_row(corpus):
    c, s = corpus
    s2 = T.TrainSettings.from_config({"C": [0.1, 1.0], "word_max_features": [300],
                                      "char_max_features": [500], "n_splits": 2})
    rows, oof = T.grid_search(c, s2)
    assert len(rows) == 2 and set(oof) == {(0.1, 300, 500), (1.0, 300, 500)}
    for r in rows:
        assert {"C", "word_max_features", "char_max_features", "mean_ap", "ap_BGL"} <= set(r)
    best = T.best_row(rows)
    assert best["mean_ap"] == max(r["mean_ap"] for r in rows)
    for p in oof.values():
        assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


def test_fold_tfidf_equals_sklearn_on_the_fold(corpus):
    """The counted-once shortcut gives what a TfidfVectorizer fitted on the fold gives."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    c, s = corpus
    train = np.flatnonzero(c.groups != "BGL")
    rows = np.arange(0, len(c.raw), 7)
    x = T._tfidf_fold(c.char_counts, train, k=10**9)[rows]  # no max_features: no ties
    v = TfidfVectorizer(analyzer="char", ngram_range=s.char_ngram, dtype=np.float64)
    v.fit([c.raw[i] for i in train])
    ref = v.transform([c.raw[i] for i in rows])
    assert x.shape == ref.shape
    for i in range(len(rows)):  # same values per row (columns differ only in order)
        assert np.allclose(np.sort(x[i].data), np.sort(ref[i].data), atol=1e-12)


def test_thresholds():
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05])
    y = np.array([1, 1, 0, 1, 0, 0])
    assert T.choose_threshold(p, y, 0.95) == 0.2
    assert T.choose_threshold(p, y, 0.5) == 0.8
    g = np.array(["a", "a", "a", "b", "b", "b"])
    t = T.budget_threshold(p, g, 0.5)
    share = np.mean([(p[g == k] >= t).mean() for k in "ab"])
    assert share <= 0.5 and np.mean([(p[g == k] >= p[p < t].max()).mean() for k in "ab"]) > 0.5


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown key"):
        T.TrainSettings.from_config({"Cs": [1]})
    with pytest.raises(ConfigError, match="at most 6"):
        T.TrainSettings.from_config({"char_ngram": [3, 7]})
    with pytest.raises(ConfigError, match="char_max_features: at most 65536"):
        T.TrainSettings.from_config({"char_max_features": [5000, 70000]})
    with pytest.raises(ConfigError, match="threshold_rule"):
        T.TrainSettings.from_config({"threshold_rule": "magic"})
    with pytest.raises(InputError, match="one class"):
        T.Corpus.build(["a", "b"], [0, 0], ["x", "y"], [], T.TrainSettings())


def test_train_run_outputs(small_model):
    m = json.loads((small_model / "train_manifest.json").read_text())
    doc = json.loads((small_model / "model.json").read_text())
    assert doc["meta"]["parity"]["max_abs_diff"] <= 1e-9 and doc["meta"]["parity"]["lines"] == 1200
    assert 0 < m["threshold"] < 1 and doc["threshold"] == m["threshold"]
    assert (small_model / "grid.csv").read_text().startswith("C,word_max_features,char_max_features,mean_ap")
    oof = pq.read_table(small_model / "oof.parquet")
    assert oof.num_rows == 1200


def test_docstring_examples():
    assert doctest.testmod(T).failed == 0
