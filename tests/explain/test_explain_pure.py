"""The pure parts of explain: names, neighbours, error cases, raw lines, SHAP per detector kind."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.explain import (ShapExplainer, error_cases, explainer_kind, nearest_normal, read_lines,
                           readable_names, sample_ids, top_features)
from logad.models.registry import build_detector


def test_readable_names_map_template_ids_words_and_prefixes():
    names = readable_names(["a1", "zz", "WordsFeaturizer:foo", "NumericFeaturizer:seq_len"],
                           {"a1": "Receiving block <*>"}, "counts")
    assert names == ["[event] Receiving block <*>", "[event] zz", "[word] 'foo'", "seq_len"]
    assert readable_names(["abc"], {}, "trigrams") == ["[trigram] 'abc'"]


def test_sample_ids_depend_on_the_ids_only():
    ids = [f"s{i}" for i in range(100)]
    a = sample_ids(ids, 10)
    assert a == sample_ids(list(reversed(ids)), 10) and len(a) == 10 and a == sorted(a)
    assert sample_ids(ids, 0) == sorted(ids)


def test_nearest_normal_finds_the_closest_and_lists_differences():
    normal = np.array([[5, 0, 1], [1, 1, 1], [0, 0, 9]], dtype=float)
    flagged = np.array([[1, 4, 1]], dtype=float)
    r = nearest_normal(flagged, ["f"], normal, ["n0", "n1", "n2"], ["a", "b", "c"])[0]
    assert r["neighbour"] == "n1" and r["distance"] == pytest.approx(3.0)
    assert r["differs"] == [{"feature": "b", "flagged": 4.0, "neighbour": 1.0}]
    # ties go to the smaller id whatever the order of the pool
    tie = nearest_normal(np.zeros((1, 2)), ["f"], np.ones((2, 2)), ["z", "a"], ["x", "y"])[0]
    assert tie["neighbour"] == "a"


def test_top_features_by_absolute_value():
    top = top_features(np.array([0.1, -2.0, 0.5, 0.0]), np.array([1, 2, 3, 4.0]), list("abcd"), k=3)
    assert [t["feature"] for t in top] == ["b", "c", "a"] and top[0]["value"] == 2.0


def test_error_cases_order_and_labels():
    t = pa.table({"session_id": ["a", "b", "c", "d", "e"], "score": [0.9, 0.8, 0.1, 0.05, 0.7],
                  "is_anomaly": pa.array([1, 1, 0, 0, 1], pa.int8()),
                  "label": pa.array([0, 0, 1, 1, None], pa.int8())})
    c = error_cases(t, 5)
    assert c["false_positives"].column("session_id").to_pylist() == ["a", "b"]
    assert c["false_negatives"].column("session_id").to_pylist() == ["d", "c"]


def test_read_lines_with_context(tmp_path):
    pq.write_table(pa.table({"path": ["x.log"] * 6 + ["y.log"], "line_no": [1, 2, 3, 4, 5, 6, 3],
                             "raw": [f"line {i}" for i in range(1, 7)] + ["other"]}),
                   tmp_path / "part-00000.parquet")
    got = read_lines([str(tmp_path / "part-00000.parquet")], [("x.log", 3), ("y.log", 3), ("x.log", 99)], 1)
    assert [r["raw"] for r in got[("x.log", 3)]] == ["line 2", "line 3", "line 4"]
    assert [r["at"] for r in got[("x.log", 3)]] == [False, True, False]
    assert got[("y.log", 3)][0]["raw"] == "other" and got[("x.log", 99)] == []


def test_raw_lines_come_only_from_a_finished_parse_output(tmp_path):
    from logad.errors import InputError
    from logad.explain import events_files
    from tests.sessions.factory import write_parsed

    table = pa.table({"path": ["x.log"] * 6, "line_no": list(range(1, 7)),
                      "raw": [f"line {i}" for i in range(1, 7)]})
    parsed = write_parsed(table, tmp_path / "parsed" / "events", n_parts=2)
    pq.write_table(table, parsed / "part-99999.parquet")  # left by some other run: not listed
    assert [f.rsplit("/", 1)[1] for f in events_files(parsed)] == ["part-00000.parquet",
                                                                  "part-00001.parquet"]
    assert events_files(None) == [] and events_files(tmp_path / "nowhere") == []
    (parsed / "manifest.json").unlink()  # a parse still going, or killed
    with pytest.raises(InputError, match="unfinished input"):
        events_files(parsed)


@pytest.mark.parametrize("det", ["xgb", "rf", "dt", "iforest", "lr", "pca"])
def test_shap_values_add_up_and_point_to_the_anomalous_feature(det):
    rng = np.random.default_rng(0)
    X = rng.poisson(3, size=(160, 4)).astype(float)
    y = (rng.random(160) < 0.2).astype(int)
    X[y == 1, 2] += 8  # feature 2 makes a row anomalous
    name = {"iforest": "sequence_if_counts", "pca": "sequence_pca_counts"}.get(det, f"sequence_{det}_counts")
    d = build_detector(name, config={}).fit(X, y if det in ("xgb", "rf", "dt", "lr") else None)
    ex = ShapExplainer(d, X[y == 0][:40], max_evals=200)
    assert ex.kind == explainer_kind(d) == ("linear" if det == "lr" else "permutation" if det == "pca" else "tree")
    rows = X[y == 1][:5]
    ids = [f"s{i}" for i in range(5)]
    v, base = ex.explain(rows, ids)
    assert v.shape == (5, 4)
    if det != "pca":  # PCA's residual need not single out one raw feature; its values must add up
        assert (np.abs(v).mean(0).argmax()) == 2
        assert (v[:, 2] > 0).all()  # positive = towards anomalous, for every detector
    # one row alone gets the same values as in a batch (what makes actors interchangeable)
    v1, _ = ex.explain(rows[3:4], ids[3:4])
    np.testing.assert_allclose(v1[0], v[3], rtol=1e-9, atol=1e-12)
    if det == "pca":
        np.testing.assert_allclose(v.sum(1) + base, d.score_samples(rows), rtol=1e-6, atol=1e-9)
