"""Train in this process and on Ray actors: the same vocabularies, model and threshold."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from logad.models.trained import TrainedModel
from logad.ray.train import run_train
from logad.ray.train_worker import FeatureWorker, columns_for, stack_pieces
from logad.features import make_featurizer
from tests.ray.helpers import count_footer_reads
from tests.scoring.factory import make_sequences, write_sequences


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_sequences(make_sequences(300, seed=4), tmp_path_factory.mktemp("seq"), parts=5)


@pytest.mark.parametrize("model", ["sequence_xgb_counts", "event_lr_words"])
def test_in_process_and_ray_train_the_same_model(ray_session, corpus, tmp_path, model):
    local = run_train(model, corpus, tmp_path / "local", {"ray": {"in_process_below": 10**9}})
    on_ray = run_train(model, corpus, tmp_path / "ray", {"ray": {"in_process_below": 0}, "workers": 2})
    assert local["in_process"] and not on_ray["in_process"] and on_ray["workers"] == 2
    for k in ("threshold", "threshold_method", "n_features", "train_rows", "train_unknown_tokens",
              "train_anomalous", "validation"):
        assert local[k] == on_ray[k], k
    assert local["data"]["rows"] == on_ray["data"]["rows"] == {"train": 180, "val": 60}
    feats = [json.loads((tmp_path / d / "features.json").read_text()) for d in ("local", "ray")]
    assert feats[0] == feats[1]
    a, b = TrainedModel.load(tmp_path / "local"), TrainedModel.load(tmp_path / "ray")
    table = make_sequences(60, seed=5)
    assert np.array_equal(a.score(table)[0], b.score(table)[0])


def test_feature_pieces_stack_in_session_order_whatever_the_share(corpus):
    table = make_sequences(40, seed=6)
    f = make_featurizer("counts").fit(table)
    cols = columns_for([f], table.column_names)
    assert cols == ["session_id", "label", "split", "event_ids"]
    assert columns_for([make_featurizer("numeric")], table.column_names) is None

    def pieces(chunks):
        out = []
        for t in chunks:
            w = FeatureWorker(cols, "sequence")
            w.table = t.select(cols)
            out.append(w.transform([f])["train"])
        return stack_pieces(out, len(f.feature_names()))

    one = pieces([table])
    shuffled = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    many = pieces([shuffled.slice(0, 13), shuffled.slice(13, 20), shuffled.slice(33)])
    assert (one[0] != many[0]).nnz == 0 and one[1].equals(many[1]) and (one[2] == many[2]).all()
    assert one[1].column("session_id").to_pylist() == sorted(one[1].column("session_id").to_pylist())


def test_train_opens_each_input_footer_once(corpus, tmp_path, monkeypatch):
    """Planning reads each part's footer once (open_stage keeps rows, row groups and schema);
    before, the parts check, the data key, the row count, the schema check and the share of
    the files each read it again (five times a part). Counted at pyarrow.parquet's footer
    readers, which every logad module calls through ``pq.``."""
    opened = count_footer_reads(monkeypatch)
    run_train("sequence_xgb_counts", corpus, tmp_path / "m", {"ray": {"in_process_below": 10**9}})
    parts = sorted(str(p) for p in (corpus / "sequences").glob("*.parquet"))
    assert sorted(o for o in opened if o in parts) == parts  # each part once
