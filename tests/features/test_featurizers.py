"""Featurizers: train-only vocabularies, <unk>, TF-IDF against scikit-learn, both levels, state."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from logad.errors import ConfigError, ModelError
from logad.features import (FEATURE_KINDS, UNK, EventCountFeaturizer, NotFittedError, NumericFeaturizer,
                            TfidfFeaturizer, TrigramsFeaturizer, WordsFeaturizer, csr_to_rows,
                            featurizer_from_dict, load_featurizer, make_featurizer, merge_counts,
                            row_index, row_labels, rows_to_csr, save_featurizer)
from logad.sessions import attach_split, sessions_by_key
from tests.sessions.factory import make_events

# session -> (split, label, [(template id, message, level), ...])
SESSIONS = {
    "a": ("train", 0, [("E1", "open file x", "INFO"), ("E2", "read 10 bytes", "INFO"), ("E1", "open file y", "INFO")]),
    "b": ("train", 0, [("E2", "read 20 bytes", "INFO"), ("E3", "close file", "INFO")]),
    "c": ("train", 1, [("E1", "open file z", "INFO"), ("E4", "disk error here", "ERROR")]),
    "d": ("val", 0, [("E3", "close file", "INFO"), ("E2", "read 5 bytes", "WARN")]),
    "e": ("test", 1, [("E9", "kernel panic now", "FATAL"), ("E1", "open file q", "INFO"), ("E9", "kernel panic again", "FATAL")]),
}


def _sequences() -> pa.Table:
    rows, t = [], 0
    for sid, (_, label, lines) in SESSIONS.items():
        for tid, msg, level in lines:
            t += 1
            rows.append({"instance_id": sid, "template_id": tid, "content": msg, "level": level, "t": t,
                         "label": label})
    events = make_events(rows, extra={"instance_id": pa.string()})
    seqs = sessions_by_key(events, "instance_id")
    split = pa.table({"session_id": list(SESSIONS), "split": [v[0] for v in SESSIONS.values()]})
    return attach_split(seqs, split)


@pytest.fixture(scope="module")
def seqs() -> pa.Table:
    return _sequences()


def _row(seqs: pa.Table, sid: str) -> int:
    return seqs.column("session_id").to_pylist().index(sid)


def test_vocab_is_fitted_on_train_only_and_unseen_tokens_go_to_unk(seqs):
    f = EventCountFeaturizer().fit(seqs)
    X, names, n_unknown = f.transform(seqs, return_unknown=True)
    assert names == [UNK, "E1", "E2", "E3", "E4"]  # E9 appears only in test
    assert n_unknown == 2
    e = _row(seqs, "e")
    assert X[e, 0] == 2 and X[e, names.index("E1")] == 1
    for sid, (_, _, lines) in SESSIONS.items():
        want = Counter(tid if tid in names else UNK for tid, _, _ in lines)
        got = {n: X[_row(seqs, sid), j] for j, n in enumerate(names) if X[_row(seqs, sid), j]}
        assert got == want
    assert X.dtype == np.float64 and sp.isspmatrix_csr(X)


def test_fit_without_split_uses_every_row_and_empty_train_raises(seqs):
    assert "E9" in EventCountFeaturizer().fit(seqs, split=None).feature_names()
    with pytest.raises(ValueError, match="no rows"):
        EventCountFeaturizer().fit(seqs, split="nothing")


@pytest.mark.parametrize("params", [{}, {"sublinear_tf": True}, {"norm": "l1"}, {"norm": None}])
def test_tfidf_matches_sklearn_tfidf_transformer(seqs, params):
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = EventCountFeaturizer().fit(seqs)
    C, _ = counts.transform(seqs)
    train = np.array([s == "train" for s in seqs.column("split").to_pylist()])
    ref = TfidfTransformer(**{"smooth_idf": True, "norm": "l2", **params}).fit(C[train])
    X, names = TfidfFeaturizer(**params).fit(seqs).transform(seqs)
    assert names == counts.feature_names()
    np.testing.assert_allclose(X.toarray(), ref.transform(C).toarray(), rtol=1e-12, atol=1e-12)


def test_tfidf_by_hand(seqs):
    f = TfidfFeaturizer(norm=None).fit(seqs)
    X, names = f.transform(seqs)
    n = 3  # train sessions a, b, c; E1 in a and c (df 2), tf of E1 in a is 2
    idf_e1 = np.log((1 + n) / (1 + 2)) + 1
    assert X[_row(seqs, "a"), names.index("E1")] == pytest.approx(2 * idf_e1)
    idf_unk = np.log((1 + n) / 1) + 1  # <unk>: df 0
    assert X[_row(seqs, "e"), 0] == pytest.approx(2 * idf_unk)


def test_pruned_tokens_go_to_unk():
    seqs = _sequences()
    f = EventCountFeaturizer(min_count=2).fit(seqs)
    assert f.feature_names() == [UNK, "E1", "E2"]  # E3, E4 seen once in train
    X, _, n_unknown = f.transform(seqs, return_unknown=True)
    assert n_unknown == 1 + 1 + 1 + 2  # b:E3, c:E4, d:E3, e:E9 x2
    g = EventCountFeaturizer(max_features=1).fit(seqs)
    assert g.feature_names() == [UNK, "E1"]  # E1 (3) beats E2 (2)


def test_words_and_trigrams(seqs):
    X, names = WordsFeaturizer().fit_transform(seqs)
    assert {"open", "file", "read", "bytes", "disk", "error"} <= set(names) and "kernel" not in names
    assert X[_row(seqs, "a"), names.index("file")] == 2
    X, names, unk = WordsFeaturizer().fit(seqs).transform(seqs, return_unknown=True)
    assert unk == 1 + 3 + 1 + 3  # d: "5"; e: "kernel panic now", "q", "kernel panic again"
    X, names = TrigramsFeaturizer().fit_transform(seqs)
    assert "ope" in names and "pen" in names and "ker" not in names
    assert X[_row(seqs, "b"), names.index("clo")] == 1
    X, names = TrigramsFeaturizer(unit="word").fit_transform(seqs)
    assert "read 10 bytes" in names and "open file x" in names


def test_event_level_rows_and_inherited_labels(seqs):
    f = make_featurizer("counts", level="event").fit(seqs)
    X, names = f.transform(seqs)
    n_lines = sum(len(v[2]) for v in SESSIONS.values())
    assert X.shape == (n_lines, len(names))
    assert np.all(X.sum(axis=1) == 1)  # one-hot per line
    idx = row_index(seqs, "event")
    y = row_labels(seqs, "event")
    for r, (sid, pos) in enumerate(zip(idx["session_id"].to_pylist(), idx["pos"].to_pylist())):
        tid = SESSIONS[sid][2][pos][0]
        assert X[r, names.index(tid) if tid in names else 0] == 1
        assert y[r] == SESSIONS[sid][1]
    W, wnames = make_featurizer("words", level="event").fit(seqs).transform(seqs)
    assert W.shape[0] == n_lines and W[0, wnames.index("open")] == 1


def test_numeric_features(seqs):
    X, names = NumericFeaturizer().fit_transform(seqs)
    assert names == ["seq_len", "duration_sec", "n_words", "n_trigrams", "n_distinct", "n_error"]
    e = _row(seqs, "e")
    msgs = [m for _, m, _ in SESSIONS["e"][2]]
    assert X[e].toarray().ravel().tolist() == [3, 2.0, sum(len(m.split()) for m in msgs),
                                               sum(len(m) - 2 for m in msgs), 2, 2]
    Xe, enames = NumericFeaturizer(level="event", columns=["is_error", "n_words"]).fit_transform(seqs)
    assert enames == ["is_error", "n_words"] and Xe.shape == (12, 2)
    assert Xe[:, 0].sum() == 3  # ERROR + 2 FATAL
    with pytest.raises(ValueError, match="not available"):
        NumericFeaturizer(columns=["is_error"]).fit(seqs)


@pytest.mark.parametrize("kind", sorted(k for k, cls in FEATURE_KINDS.items()
                                        if getattr(cls, "output", "matrix") == "matrix"))
@pytest.mark.parametrize("level", ["sequence", "event"])
def test_state_round_trips_through_json(seqs, tmp_path, kind, level):
    f = make_featurizer(kind, level=level).fit(seqs)
    g = featurizer_from_dict(json.loads(json.dumps(f.to_dict())))
    (X1, n1), (X2, n2) = f.transform(seqs), g.transform(seqs)
    assert n1 == n2 and (X1 != X2).nnz == 0
    save_featurizer(f, tmp_path / "f.json")
    h = load_featurizer(tmp_path / "f.json")
    assert type(h) is type(f) and h.get_params() == json.loads(json.dumps(f.get_params()))
    assert (h.transform(seqs)[0] != X1).nnz == 0


def test_errors(seqs, tmp_path):
    with pytest.raises(NotFittedError):
        EventCountFeaturizer().transform(seqs)
    with pytest.raises(ConfigError, match="unknown feature kind"):
        make_featurizer("bert")
    with pytest.raises(ConfigError, match="unexpected"):
        make_featurizer("counts", colour="red")
    with pytest.raises(ValueError, match="level"):
        EventCountFeaturizer(level="token").fit(seqs)
    with pytest.raises(ValueError, match="norm"):
        EventCountFeaturizer(norm="l2").fit(seqs)
    (tmp_path / "bad.json").write_text('{"kind": "counts", "params": {}}')
    with pytest.raises(ModelError):
        load_featurizer(tmp_path / "bad.json")
    with pytest.raises(ModelError, match="not found"):
        load_featurizer(tmp_path / "missing.json")


@pytest.mark.parametrize("kind", ["counts", "tfidf", "words", "trigrams"])
def test_partial_counts_merged_over_chunks_equal_a_single_fit(seqs, kind):
    whole = make_featurizer(kind).fit(seqs)
    parts = [make_featurizer(kind).partial_counts(seqs.slice(i, 2)) for i in range(0, seqs.num_rows, 2)]
    merged = make_featurizer(kind).fit_counts(merge_counts(parts))
    assert merged.to_dict() == whole.to_dict()


def test_csr_rows_round_trip():
    X = sp.random(7, 5, density=0.4, format="csr", random_state=0)
    ind, val = csr_to_rows(X)
    Y = rows_to_csr(pa.table({"indices": ind, "values": val}), 5)
    assert (X != Y).nnz == 0


def test_features_yaml_builds_every_kind_with_class_defaults():
    from logad.config import load_yaml
    from logad.features import make_featurizer_from_config

    cfg = load_yaml("features")
    assert set(cfg["kinds"]) == set(FEATURE_KINDS)
    for kind in FEATURE_KINDS:
        f = make_featurizer_from_config(kind, cfg)
        assert f.get_params() == make_featurizer(kind).get_params()
    assert make_featurizer_from_config("counts", cfg, level="event").level == "event"
