"""`triage predict` on Ray: lines of one file across workers, the same result for 1 and 2."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from logad.triage.predict import look_rows, read_summary, summarize
from logad.triage.scorer import TriageScorer


@pytest.fixture(scope="module")
def big_file(small_logs, tmp_path_factory):
    """All four samples in one file, three times over (3,600 lines, ~450 kB)."""
    text = "".join((small_logs / f).read_text() for f in sorted(p.name for p in small_logs.iterdir()))
    path = tmp_path_factory.mktemp("triage_big") / "mixed.log"
    path.write_text(text * 3)
    return path


def test_one_and_two_workers_give_the_same_output(ray_session, small_model, big_file, tmp_path):
    from logad.ray.triage import run_triage

    # 7 byte ranges of one file; no cap on the LOOK share: compared with scoring it whole below
    cfg = {"chunk_bytes": 64 * 1024, "batch_lines": 500, "max_look_share": 1.0}
    m1 = run_triage([str(big_file)], small_model, tmp_path / "w1", {**cfg, "workers": 1})
    m2 = run_triage([str(big_file)], small_model, tmp_path / "w2", {**cfg, "workers": 2})
    assert m1["units"] == m2["units"] >= 5
    assert m1["accounting_ok"] and m1["totals"]["lines_read"] == 3600 == m1["totals"]["scored"]
    a, b = pq.read_table(tmp_path / "w1" / "looks.parquet"), pq.read_table(tmp_path / "w2" / "looks.parquet")
    assert a.equals(b) and 0 < a.num_rows < 3600
    s1, s2 = read_summary(tmp_path / "w1"), read_summary(tmp_path / "w2")
    assert s1 == s2 and s1["look"] == a.num_rows
    # every line number once, in order, and each LOOK line is the file's line at that number
    lines = big_file.read_text().split("\n")
    no = a["line_no"].to_numpy()
    assert (np.diff(no) > 0).all()
    assert all(lines[n - 1] == t for n, t in zip(no[:200], a["line"].to_pylist()[:200]))
    # the same rows as scoring the whole file in one go
    scorer = TriageScorer.load(small_model)
    whole = [ln for ln in lines if ln.strip()]
    ref = look_rows(scorer, whole, np.arange(1, len(whole) + 1), str(big_file))
    assert ref.column("line_no").equals(a.column("line_no"))
    # to the last bits: BLAS may sum a 500-line batch in another order than the whole file
    np.testing.assert_allclose(a["probability"].to_numpy(), ref["probability"].to_numpy(),
                               rtol=0, atol=1e-12)


def test_rerun_skips_and_threshold_trades_volume(ray_session, small_model, big_file, tmp_path):
    from logad.ray.triage import run_triage

    out = tmp_path / "p"
    m = run_triage([str(big_file)], small_model, out, {"chunk_bytes": 128 * 1024})
    again = run_triage([str(big_file)], small_model, out, {"chunk_bytes": 128 * 1024})
    assert again["units_skipped"] == m["units"] and again["totals"] == m["totals"]
    high = run_triage([str(big_file)], small_model, out, {"chunk_bytes": 128 * 1024, "threshold": 0.99})
    assert high["units_skipped"] == 0  # another threshold: redone, fewer LOOK lines
    assert m["threshold"] < 0.99 and m["totals"]["look"] > high["totals"]["look"]


def test_summary_templates(small_model):
    scorer = TriageScorer.load(small_model)
    lines = ([f"Failed password for root from 10.0.0.{i} port {4000 + i} ssh2" for i in range(30)]
             + [f"disk {i} is fine" for i in range(5)])
    looks = look_rows(scorer, lines, np.arange(1, 36), "x.log", threshold=0.0)
    s = summarize(35, looks, scorer.passes, 0.0, top=3)
    assert s["look"] == 35 and s["look_share"] == 1.0
    top = s["top_templates"][0]
    assert top["lines"] == 30 and "Failed password for root from <*>" in top["template"]
    assert json.dumps(s)  # plain JSON for the report stage


def test_bad_inputs_are_messages(ray_session, small_model, tmp_path):
    from logad.errors import ConfigError, InputError
    from logad.ray.triage import run_triage

    with pytest.raises(InputError, match="input not found"):
        run_triage([str(tmp_path / "missing.log")], small_model, tmp_path / "o")
    with pytest.raises(ConfigError, match="unknown key"):
        run_triage([str(tmp_path)], small_model, tmp_path / "o", {"thresold": 0.5})
    empty = tmp_path / "empty.log"
    empty.write_text("")
    m = run_triage([str(empty)], small_model, tmp_path / "o2")
    assert m["errors"] and "empty" in m["errors"][0]


def test_cap_per_file_keeps_the_most_likely_lines():
    import pyarrow as pa

    from logad.triage.predict import LOOK_SCHEMA, cap_per_file

    looks = pa.table({"path": ["a"] * 6 + ["b"] * 2, "line_no": [1, 2, 3, 4, 5, 6, 1, 2],
                      "probability": [0.9, 0.5, 0.8, 0.5, 0.7, 0.6, 0.95, 0.9],
                      "reason": [""] * 8, "line": [""] * 8}, schema=LOOK_SCHEMA)
    kept, cuts = cap_per_file(looks, {"a": 10, "b": 10}, 0.3)  # a: 3 of 10 allowed, b: under
    assert kept.column("line_no").to_pylist() == [1, 3, 5, 1, 2] and cuts == {"a": 0.7}
    tied, cuts = cap_per_file(looks, {"a": 13, "b": 10}, 0.3)  # 3 allowed; 0.5 ties at 4/5
    assert tied.column("line_no").to_pylist() == [1, 3, 5, 1, 2]
    assert cap_per_file(looks, {"a": 10, "b": 10}, 1.0)[0].equals(looks)
    assert cap_per_file(looks, {"a": 10, "b": 10}, None)[0].equals(looks)


def test_max_look_share_caps_each_file(ray_session, small_model, big_file, tmp_path):
    from logad.ray.triage import run_triage

    cfg = {"chunk_bytes": 128 * 1024, "threshold": 0.0}  # every line above the threshold
    free = run_triage([str(big_file)], small_model, tmp_path / "free", {**cfg, "max_look_share": 1.0})
    capped = run_triage([str(big_file)], small_model, tmp_path / "cap", {**cfg, "max_look_share": 0.1})
    assert free["totals"]["look"] == free["totals"]["scored"] and free["capped_files"] == 0
    assert capped["capped_files"] == 1 and 0 < capped["totals"]["look"] <= 0.1 * capped["totals"]["scored"]
    assert capped["accounting_ok"] and capped["files"][0]["look_above_threshold"] == free["totals"]["look"]
    a = pq.read_table(tmp_path / "free" / "looks.parquet")
    b = pq.read_table(tmp_path / "cap" / "looks.parquet")
    assert min(b["probability"].to_pylist()) >= sorted(a["probability"].to_pylist())[-b.num_rows]
    assert read_summary(tmp_path / "cap")["look"] == b.num_rows
