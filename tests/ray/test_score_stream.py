"""Streamed scoring: parts + manifest, several models in one pass, ranks, independence of actors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from logad.evaluate.evaluation import run_evaluate
from logad.ray.score import run_score
from logad.scoring.parts import read_scores, score_parts
from tests.scoring.factory import make_sequences, trained_models

MODELS = ("sequence_xgb_counts", "sequence_if_counts", "event_lr_words")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_models(tmp_path_factory.mktemp("stream"), MODELS, n=240, seed=4, parts=4)


def test_two_models_one_pass_independent_of_actors(ray_session, trained, tmp_path):
    seq, dirs = trained
    one = run_score(dirs, seq, tmp_path / "a1", {"workers": 1, "batch_size": 50, "local_below": 0})
    two = run_score(dirs, seq, tmp_path / "a2", {"workers": 2, "batch_size": 17, "local_below": 0,
                                                 "rows_per_bucket": 7})  # many small buckets
    assert two["rank_pass"]["largest_bucket"] <= 7 < two["rank_pass"]["buckets"]
    local = run_score(dirs, seq, tmp_path / "in", {"batch_size": 64})  # below local_below: in-process
    assert local["actors"].get("in_process") and not one["actors"].get("in_process")
    assert [m["model"] for m in one["models"]] == list(MODELS)
    for name in MODELS:
        a = read_scores(tmp_path / "a1", model=name)
        assert a.num_rows == 240 and a.column("model_version")[0].as_py()
        assert a.equals(read_scores(tmp_path / "a2", model=name))
        assert a.equals(read_scores(tmp_path / "in", model=name))
        # rank: 1 = highest score, a permutation of 1..n, ties broken by session id
        order = np.lexsort((np.asarray(a.column("session_id").to_pylist(), dtype=object),
                            -a.column("score").to_numpy()))
        assert (a.column("rank").to_numpy()[order] == np.arange(1, 241)).all()
        # the keys to the raw lines point into the session's refs
        assert a.column("ref_path").null_count == 0 and a.column("ref_line_no").null_count == 0
    assert set(json.loads((tmp_path / "a1" / "manifest.json").read_text())["parts"]) == \
        {p.name for p in score_parts(tmp_path / "a1")}


def test_rerun_skips_and_evaluate_reads_one_model_of_the_parts(ray_session, trained, tmp_path):
    seq, dirs = trained
    run_score(dirs[:2], seq, tmp_path / "s", {"batch_size": 80})
    assert run_score(dirs[:2], seq, tmp_path / "s", {"batch_size": 80}).get("skipped")
    with pytest.raises(Exception, match="name one with --model"):
        run_evaluate(tmp_path / "s", tmp_path / "e")
    r = run_evaluate(tmp_path / "s", tmp_path / "e", model="sequence_xgb_counts")
    assert r["model"] == "sequence_xgb_counts" and r["metrics"]["roc_auc"] > 0.8
    by_dir = run_evaluate(tmp_path / "s", tmp_path / "e2", model_dir=dirs[1])
    assert by_dir["model"] == "sequence_if_counts" and by_dir["sessions"] == 48


def test_split_filter_and_event_level_refs(ray_session, trained, tmp_path):
    seq, dirs = trained
    m = run_score(dirs[2:], seq, tmp_path / "v", {"split": "val", "local_below": 0, "workers": 1})
    t = read_scores(tmp_path / "v")
    assert m["sessions"] == t.num_rows == 48 and set(t.column("split").to_pylist()) == {"val"}
    # event level: the ref is the line that scored highest (top_pos) of the session
    seqs = make_sequences(240, seed=4)
    refs = dict(zip(seqs.column("session_id").to_pylist(), seqs.column("refs").to_pylist()))
    for sid, pos, line in zip(t.column("session_id").to_pylist(), t.column("top_pos").to_pylist(),
                              t.column("ref_line_no").to_pylist()):
        assert refs[sid][pos]["line_no"] == line
    assert int(pc.max(t.column("rank")).as_py()) == 48
