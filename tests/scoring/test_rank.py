"""The rank pass: sampled cut keys, bounded buckets, ranks equal to one plain global sort."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.ray.score import run_score
from logad.scoring.parts import PARTS_SCHEMA, read_scores, sort_for_rank
from logad.scoring.rank import (cut_every, cut_keys, exact_cuts, key_positions, read_staged,
                                sample_keys, sample_offset, sample_step, write_staged)
from logad.scoring.worker import RankBucket, ScoreWorker
from tests.scoring.factory import trained_models

MODELS = ("sequence_xgb_counts", "event_lr_words")


def _plain_ranks(table: pa.Table) -> np.ndarray:
    """1-based ranks from one global sort: score descending, session id ascending."""
    ids = np.asarray(table.column("session_id").to_pylist(), dtype=object)
    order = np.lexsort((ids, -table.column("score").to_numpy()))
    rank = np.empty(table.num_rows, dtype=np.int64)
    rank[order] = np.arange(1, table.num_rows + 1)
    return rank


def _rows(scores, ids, model="m"):
    n = len(ids)
    return pa.table({"session_id": ids, "model": [model] * n, "model_version": ["v"] * n,
                     "score": pa.array(scores, pa.float64()), "is_anomaly": pa.array([0] * n, pa.int8()),
                     "threshold": [0.5] * n, "rank": pa.nulls(n, pa.int64()),
                     "label": pa.nulls(n, pa.int8()), "split": ["test"] * n, "n_unknown": [0] * n,
                     "top_pos": pa.nulls(n, pa.int64()), "ref_path": ["f"] * n,
                     "ref_line_no": list(range(n))}, schema=PARTS_SCHEMA)


def test_cuts_split_runs_of_equal_scores_between_session_ids():
    rng = np.random.default_rng(1)
    scores = rng.choice([0.1, 0.5, 0.9, np.nan], size=500)  # four values: nothing but ties
    ids = np.array([f"s{i:04d}" for i in rng.permutation(500)], dtype=object)
    t = sort_for_rank(_rows(scores, ids))
    s, sid = t.column("score").to_numpy(), t.column("session_id").to_numpy(zero_copy_only=False)
    step = sample_step(40)
    cuts = cut_keys(sample_keys(s, sid, step), cut_every(40))
    pos = key_positions(s, sid, cuts)
    sizes = np.diff([0, *pos.tolist(), len(s)])
    assert sizes.sum() == 500 and sizes.max() <= 40 and len(cuts) > 10
    # a cut at a key is the position just after that row (NaN compared as text)
    assert [(repr(float(s[p - 1])), sid[p - 1]) for p in pos] == [(repr(c[0]), c[1]) for c in cuts]
    exact = key_positions(s, sid, exact_cuts(s[::-1].copy(), sid[::-1].copy(), 64))
    assert np.diff([0, *exact.tolist(), len(s)]).tolist() == [64] * 7 + [52]


def test_parts_smaller_than_the_sample_step_still_give_balanced_buckets():
    """80 parts of 2,500 rows, one score distribution, a sample step of 2,048: each part starts
    its sample at its own offset, so the keys are not all of one quantile."""
    rng = np.random.default_rng(3)
    values, bound = rng.random(50), 65536
    step = sample_step(bound)
    parts, keys = [], []
    for j in range(80):
        t = sort_for_rank(_rows(rng.choice(values, size=2500), [f"s{j:02d}-{i:04d}" for i in range(2500)]))
        s, sid = t.column("score").to_numpy(), t.column("session_id").to_numpy(zero_copy_only=False)
        parts.append((s, sid))
        keys += sample_keys(s, sid, step, sample_offset(f"part-{j}", step))
    cuts = cut_keys(keys, cut_every(bound))
    sizes = sum(np.diff([0, *key_positions(s, sid, cuts).tolist(), len(s)]) for s, sid in parts)
    assert sizes.sum() == 200_000 and len(sizes) >= 5
    assert sizes.max() <= 0.75 * bound, sizes.tolist()


def test_refine_cuts_an_oversized_bucket_into_exact_ones(tmp_path):
    """A bucket of sorted fragments larger than the bound is cut from all of its keys; ranking
    the new buckets in order gives the ranks of one global sort."""
    rng = np.random.default_rng(2)
    parts = []
    folder = tmp_path / "m000-000000"
    for j in range(5):
        n = int(rng.integers(1, 40))
        t = sort_for_rank(_rows(rng.choice([0.0, 0.25, 1.0], size=n).astype(float),
                                [f"s{j}-{i:03d}" for i in range(n)]))
        write_staged(t, folder / f"part-{j}.arrow")
        parts.append(t)
    whole = pa.concat_tables(parts)
    worker = ScoreWorker([], str(tmp_path), rows_per_bucket=9)
    subs = worker.refine(RankBucket("m", folder=str(folder)))
    assert sum(n for _, n in subs) == whole.num_rows and max(n for _, n in subs) <= 9
    start, out = 0, []
    for k, (sub, n) in enumerate(subs):
        assert worker.rank(RankBucket("m", start=start, out=str(tmp_path / f"out-{k}.parquet"),
                                      folder=sub)) == n
        start += n
        out.append(pq.read_table(tmp_path / f"out-{k}.parquet"))
    got = pa.concat_tables(out)
    assert (got.column("rank").to_numpy() == _plain_ranks(got)).all()
    assert read_staged(folder / "part-0.arrow", ["score"]).column_names == ["score"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_models(tmp_path_factory.mktemp("rank"), MODELS, n=200, seed=6, parts=3)


@pytest.mark.parametrize("rows_per_bucket,batch_size", [(1, 64), (5, 7), (33, 16), (65536, 64)])
def test_ranks_equal_one_global_sort_for_any_bucket_size(trained, tmp_path, rows_per_bucket,
                                                         batch_size):
    seq, dirs = trained
    m = run_score(dirs, seq, tmp_path / "s", {"rows_per_bucket": rows_per_bucket,
                                              "batch_size": batch_size})  # in this process
    assert m["actors"].get("in_process")
    assert m["rank_pass"]["largest_bucket"] <= rows_per_bucket
    for name in MODELS:
        t = read_scores(tmp_path / "s", model=name)
        assert t.num_rows == 200
        assert len(set(t.column("score").to_pylist())) < 200  # ties, broken by session id
        assert (t.column("rank").to_numpy() == _plain_ranks(t)).all(), name
