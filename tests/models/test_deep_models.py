"""The torch sequence detectors beyond the shared contract: seeds, the events vocabulary and its
union, warm starts, the windowing cores and each model's own rule."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from logad.errors import ConfigError, ModelError
from logad.features import make_featurizer
from logad.features.events import EventIdsFeaturizer
from logad.models._torch import next_event_windows, special_ids, windows
from logad.models._transfer import transfer_state
from logad.models.base import Detector
from logad.models.mscred import segment_counts
from logad.models.registry import DETECTORS, MODELS, build_detector
from tests.models.conftest import FAST_PARAMS, SEQ_FEATURE_NAMES, make_sequences

DEEP = ["deeplog", "logbert", "mscred", "logrobust"]


@pytest.fixture(scope="module")
def sessions():
    X, y = make_sequences(160, 30, seed=11)
    X_test, y_test = make_sequences(60, 20, seed=12)
    return X, y, X_test, y_test


def _fit(name, sessions, **kw):
    X, y, _, _ = sessions
    det = DETECTORS[name](**{**FAST_PARAMS[name], **kw})
    if det.supervised:
        return det.fit(X, y, feature_names=SEQ_FEATURE_NAMES)
    return det.fit([x for x, label in zip(X, y) if label == 0], feature_names=SEQ_FEATURE_NAMES)


@pytest.mark.parametrize("name", DEEP)
def test_same_seed_same_model_other_seed_other_model(name, sessions):
    X_test = sessions[2]
    a, b = _fit(name, sessions), _fit(name, sessions)
    np.testing.assert_array_equal(a.score_samples(X_test), b.score_samples(X_test))
    wa = {k: v for k, v in a.module_.state_dict().items() if v.is_floating_point()}
    c = _fit(name, sessions, random_state=5)
    assert any(not torch.equal(v, c.module_.state_dict()[k]) for k, v in wa.items())
    assert [r["epoch"] for r in a.history_] == list(range(1, len(a.history_) + 1))


def test_named_models_read_events_and_build(sessions):
    for model, det in (("sequence_deeplog", "deeplog"), ("sequence_logbert", "logbert"),
                       ("window_mscred", "mscred"), ("sequence_logrobust", "logrobust")):
        spec = MODELS[model]
        assert spec.features == "events" and spec.level == "sequence" and spec.detector == det
        assert build_detector(spec, config={}).name == det
    d = build_detector("sequence_deeplog", config={})
    assert (d.window, d.top_k, d.layers, d.hidden) == (10, 9, 2, 64)  # DeepLog's HDFS setting


def test_weights_are_safetensors_and_a_wrong_architecture_is_refused(sessions, tmp_path):
    det = _fit("deeplog", sessions)
    det.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors header
    assert (tmp_path / "m" / "loss_history.png").stat().st_size > 1000
    import yaml

    meta = yaml.safe_load((tmp_path / "m" / "model.yml").read_text())
    meta["params"]["hidden"] = 32
    (tmp_path / "m" / "model.yml").write_text(yaml.safe_dump(meta))
    with pytest.raises(ModelError, match="does not fit the architecture"):
        Detector.load(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelError, match="not a readable safetensors"):
        Detector.load(tmp_path / "m")


def test_deeplog_unseen_events_are_misses(sessions):
    det = _fit("deeplog", sessions)
    normal = np.array([1, 2, 3, 3, 4, 5, 6, 6, 6, 7])
    base = det.score_samples([normal])[0]
    for unseen in (0, 13):  # <unk>, and an id of the vocabulary never seen in normal training
        s = normal.copy()
        s[4] = unseen
        assert det.score_samples([s])[0] >= base + 1
    assert det.threshold_ == 0.0 and det.threshold_method_ == "auto:any missed event"
    share = _fit("deeplog", sessions, score="share").score_samples([normal])[0]
    assert 0.0 <= share <= 1.0


def test_deeplog_explains_what_it_missed_and_what_it_expected(sessions):
    det = _fit("deeplog", sessions)
    normal = np.array([1, 2, 3, 3, 4, 5, 6, 6, 6, 7])
    odd = normal.copy()
    odd[4] = 0  # <unk>: always a miss, ranked last
    got = det.explain_sequences([normal, odd, np.array([], dtype=np.int64)])
    assert len(got) == 3 and got[2] == {"missed": []}
    n_missed = [len(g["missed"]) for g in got[:2]]
    assert n_missed == [det.score_samples([normal])[0], det.score_samples([odd])[0]]  # count score
    at4 = [m for m in got[1]["missed"] if m["pos"] == 4]
    assert at4 and at4[0]["event"] == 0 and at4[0]["rank"] >= det.top_k
    assert len(at4[0]["expected"]) == 3 and 0 not in at4[0]["expected"]
    with pytest.raises(ModelError):
        DETECTORS["deeplog"](**FAST_PARAMS["deeplog"]).explain_sequences([normal])


def test_logbert_explains_what_it_missed_and_what_it_expected(sessions):
    det = _fit("logbert", sessions)
    normal = np.array([1, 2, 3, 3, 4, 5, 6, 6, 6, 7])  # one window (16 >= 11): no overlap
    odd = normal.copy()
    odd[4] = 0  # <unk>: always a miss, ranked last
    long = np.tile(normal, 3)  # three overlapping windows: each position listed once
    got = det.explain_sequences([normal, odd, np.array([], dtype=np.int64), long])
    assert len(got) == 4 and got[2] == {"missed": []}
    for seq, g in ((normal, got[0]), (odd, got[1])):  # the score is the missed share
        assert len(g["missed"]) == pytest.approx(det.score_samples([seq])[0] * (len(seq) + 1))
    at4 = [m for m in got[1]["missed"] if m["pos"] == 4]
    assert at4 and at4[0]["event"] == 0 and at4[0]["rank"] == det.n_features_in_
    assert len(at4[0]["expected"]) == 3 and 0 not in at4[0]["expected"]
    pos = [m["pos"] for m in got[3]["missed"]]
    assert pos == sorted(set(pos)) and all(0 <= p <= len(long) for p in pos)
    with pytest.raises(ModelError):
        DETECTORS["logbert"](**FAST_PARAMS["logbert"]).explain_sequences([normal])


def test_logbert_scoring_is_deterministic_and_counts_unseen(sessions):
    det = _fit("logbert", sessions)
    X_test = sessions[2]
    np.testing.assert_array_equal(det.score_samples(X_test), det.score_samples(X_test))
    s = np.array([1, 2, 3, 3, 4, 0, 0, 0, 0, 0])
    # five unseen of eleven counted (ten events and END), each counted once
    assert det.score_samples([s])[0] >= 5 / 11
    assert det.centre_.shape == (FAST_PARAMS["logbert"]["d_model"],) and np.isfinite(det.centre_).all()
    ema = _fit("logbert", sessions, centre="ema")
    assert not np.allclose(ema.centre_, det.centre_)
    with pytest.raises(ConfigError, match="multiple of heads"):
        _fit("logbert", sessions, d_model=15)


def test_mscred_signature_matrices_match_the_definition():
    from logad.models.mscred import _module

    bucket = np.array([3, 0, 1, 2, 3, 3])
    counts = segment_counts(np.array([1, 2, 2, 3, 5, 1, 4]), bucket, 2, 4)
    assert counts.tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 1]]
    net = _module(4, 6, (1, 2), history=2, channels=2)
    sig = net.signatures(torch.as_tensor(counts[None]))  # (1, history, scales, n, n)
    x = counts
    want_last_w2 = (np.outer(x[3], x[3]) + np.outer(x[2], x[2])) / 2
    np.testing.assert_allclose(sig[0, -1, 1].numpy(), want_last_w2)
    np.testing.assert_allclose(sig[0, -2, 0].numpy(), np.outer(x[2], x[2]))


def test_windows_cover_every_event():
    w = windows(np.arange(1, 12), 4, 3, 0)
    assert w[0].tolist() == [1, 2, 3, 4] and w[-1].tolist() == [8, 9, 10, 11]
    assert set(w.ravel()) == set(range(1, 12))
    h, t = next_event_windows(np.array([], dtype=np.int64), 3, 9)
    assert h.shape == (0, 3) and t.shape == (0,)
    assert special_ids(16) == {"PAD": 16, "MASK": 17, "DIST": 18, "END": 19, "size": 20}


def test_events_featurizer_vocabulary_union_keeps_old_ids():
    a = pa.table({"session_id": ["1", "2"], "event_ids": [["x", "y"], ["y", "z"]], "split": ["train"] * 2})
    b = pa.table({"session_id": ["3"], "event_ids": [["w", "y", "q"]], "split": ["train"]})
    fa = make_featurizer("events").fit(a)
    fb = make_featurizer("events").fit(b)
    u = fa.union(fb)
    assert u.feature_names() == ["<unk>", "x", "y", "z", "q", "w"]
    (ids,), unknown = u.transform_rows(pa.table({"event_ids": [["x", "q", "nope", "w"]]}))
    assert ids.tolist() == [1, 4, 0, 5] and unknown.tolist() == [1]
    back = EventIdsFeaturizer.from_dict(u.to_dict())
    assert back.feature_names() == u.feature_names()
    with pytest.raises(ValueError, match="sessions only"):
        make_featurizer("events", level="event").fit(a)


def test_warm_start_copies_rows_of_the_old_vocabulary(sessions):
    old = _fit("deeplog", sessions)
    new = DETECTORS["deeplog"](**FAST_PARAMS["deeplog"])
    new.n_features_in_ = 18  # two new events appended to the 16 ids
    module = new._build_module()
    assert transfer_state(old.module_.state_dict(), 16, module, 18) == len(module.state_dict())
    e_old, e_new = old.module_.embed.weight, module.embed.weight
    assert torch.equal(e_new[:16], e_old[:16]) and torch.equal(e_new[18:], e_old[16:])  # PAD..END
    out_new, out_old = module.out.weight, old.module_.out.weight
    assert torch.equal(out_new[:16], out_old[:16]) and torch.equal(out_new[18:], out_old[16:])  # END
    X, y, X_test, _ = sessions
    new.warm_start(old.module_.state_dict(), 16)
    warm = new.set_params(epochs=1).fit([x for x, label in zip(X, y) if label == 0],
                                        feature_names=SEQ_FEATURE_NAMES + ["E16", "E17"])
    assert warm.history_[0]["train_loss"] < old.history_[0]["train_loss"]
