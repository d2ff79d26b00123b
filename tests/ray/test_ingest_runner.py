"""The ingest runner on a real local Ray: determinism, accounting, bad input, re-runs, CLI."""

from __future__ import annotations

import gzip
import json
import random

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from logad.cli import app
from logad.errors import ConfigError, InputError
from logad.ray.ingest import run_ingest
from tests.conftest import require_shared


def _events(out):
    t = pq.read_table(out / "events")
    return t.sort_by([("order", "ascending")])


def _hdfs_like(tmp_path, n=4000, seed=7):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        blk = f"blk_{rng.randint(-10**6, 10**6)}"
        lines.append(f"0811{10 + i // 2000:02d} {203500 + i % 60:06d} {rng.randint(1, 999)} INFO "
                     f"dfs.DataNode$PacketResponder: PacketResponder {i % 3} for block {blk} terminating")
    path = tmp_path / "hdfs.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_same_events_whatever_the_chunking_and_workers(ray_session, tmp_path):
    src = _hdfs_like(tmp_path)
    base = run_ingest([str(src)], tmp_path / "one", {"preset": "HDFS", "workers": 1})
    assert base["units"] == 1 and base["in_process"]  # a small input: no Ray
    ref = _events(tmp_path / "one")
    for workers, chunk, below in ((1, 20_000, 0), (2, 20_000, 0), (2, 7_777, 0), (None, 7_777, 1 << 30)):
        out = tmp_path / f"w{workers}-{chunk}-{below}"
        m = run_ingest([str(src)], out, {"preset": "HDFS", "workers": workers, "chunk_bytes": chunk,
                                         "in_process_below_bytes": below})
        assert m["units"] > 1 and m["in_process"] is bool(below)
        assert _events(out).equals(ref)
        assert m["totals"]["lines_read"] == 4000 == m["totals"]["parsed"] + m["totals"]["rejected"]
    # identical shard files for the same plan on 1 and 2 workers
    a = pq.read_table(tmp_path / "w1-20000-0" / "events" / "part-000003.parquet")
    b = pq.read_table(tmp_path / "w2-20000-0" / "events" / "part-000003.parquet")
    assert a.equals(b)


def test_bad_files_are_counted_and_the_rest_finishes(ray_session, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = "".join(f"081109 2035{i % 60:02d} 1 INFO dfs.X: line {i} blk_{i}\n" for i in range(300))
    (d / "a_good.log").write_text(good)
    (d / "b_empty.log").write_bytes(b"")
    (d / "c_binary.log").write_bytes(b"\x00\x01\x02" * 100)
    (d / "d_trunc.log.gz").write_bytes(gzip.compress(good.encode())[:-40])
    (d / "e_bytes.log").write_bytes(b"081109 203500 1 INFO dfs.X: caf\xe9\nnot an hdfs line\n\n")
    m = run_ingest([str(d)], tmp_path / "out", {"preset": "HDFS"})
    files = {f["path"].rsplit("/", 1)[-1]: f for f in m["files"]}
    assert files["a_good.log"]["events"] == 300 and not files["a_good.log"]["errors"]
    assert "empty file" in files["b_empty.log"]["errors"][0]
    assert "binary file" in files["c_binary.log"]["errors"][0]
    assert "d_trunc.log.gz" in files["d_trunc.log.gz"]["errors"][0]
    e = files["e_bytes.log"]
    assert (e["lines_read"], e["parsed"], e["rejected"], e["bad_utf8"], e["unmatched"]) == (3, 2, 1, 1, 1)
    assert m["n_files_failed"] == 3 and m["accounting_ok"]
    for f in m["files"]:
        assert f["lines_read"] == f["parsed"] + f["rejected"]
    rej = pq.read_table(tmp_path / "out" / "rejected")
    assert rej.column("reason").to_pylist() == ["blank line"] and rej.column("line_no").to_pylist() == [3]
    ev = _events(tmp_path / "out")
    unmatched = ev.filter(pc.invert(ev.column("matched")))
    assert unmatched.column("content").to_pylist() == ["not an hdfs line"]


def test_rerun_skips_finished_units(ray_session, tmp_path):
    src = _hdfs_like(tmp_path, n=500)
    out = tmp_path / "out"
    first = run_ingest([str(src)], out, {"preset": "HDFS", "chunk_bytes": 10_000})
    again = run_ingest([str(src)], out, {"preset": "HDFS", "chunk_bytes": 10_000})
    assert again["units_skipped"] == again["units"] == first["units"]
    assert again["totals"] == first["totals"]
    other = run_ingest([str(src)], out, {"preset": "HDFS", "chunk_bytes": 50_000})
    assert other["units_skipped"] == 0
    assert len(list((out / "events").glob("part-*.parquet"))) == other["units"]


def test_missing_input_fails_before_work(tmp_path):
    with pytest.raises(InputError, match="nope.log"):
        run_ingest([str(tmp_path / "nope.log")], tmp_path / "out", {})
    assert not (tmp_path / "out").exists()


def test_bad_parquet_setting_fails_before_work(tmp_path):
    src = _hdfs_like(tmp_path, n=10)
    with pytest.raises(ConfigError, match=r"parquet\.compression = 'rar'.*unknown codec"):
        run_ingest([str(src)], tmp_path / "out", {"preset": "HDFS", "parquet": {"compression": "rar"}})
    assert not (tmp_path / "out").exists()


def test_hdfs_labels_from_anomaly_label_csv(ray_session, tmp_path):
    src = tmp_path / "h.log"
    src.write_text("081109 203500 1 INFO dfs.X: ask to delete blk_1 blk_2\n"
                   "081109 203501 1 INFO dfs.X: served blk_2\n"
                   "081109 203502 1 INFO dfs.X: served blk_3\n")
    lab = tmp_path / "anomaly_label.csv"
    lab.write_text("BlockId,Label\nblk_1,Normal\nblk_2,Anomaly\n")
    run_ingest([str(src)], tmp_path / "out", {"preset": "HDFS", "labels": str(lab)})
    ev = _events(tmp_path / "out")
    assert ev.column("block_ids").to_pylist()[0] == ["blk_1", "blk_2"]
    assert ev.column("label").to_pylist() == [1, 1, None]
    labels = pq.read_table(tmp_path / "out" / "labels.parquet").to_pydict()
    assert labels == {"session_key": ["blk_1", "blk_2"], "label": [0, 1]}


def test_real_hdfs_sample_with_labels(ray_session, tmp_path):
    d = require_shared("hdfs_loglead_2pct")
    m = run_ingest([str(d / "HDFS_loglead2pct_shared.log.gz")], tmp_path / "out",
                   {"preset": "HDFS", "labels": str(d / "anomaly_label.csv")})
    assert m["totals"]["events"] == 134_487 and m["totals"]["unmatched"] == 0
    ev = pq.read_table(tmp_path / "out" / "events", columns=["label"])
    assert pc.sum(ev.column("label")).as_py() == 3_158  # lines of anomalous blocks (data README)
    lab = pq.read_table(tmp_path / "out" / "labels.parquet")
    assert lab.num_rows == 6_952 and pc.sum(lab.column("label")).as_py() == 189


def test_real_lo2_sample(ray_session, tmp_path):
    root = require_shared("lo2_sample", "reconstructed")
    m = run_ingest([str(root)], tmp_path / "out", {"preset": "lo2"})
    assert m["totals"]["events"] == 22_660 and m["totals"]["unmatched"] == 0
    ev = pq.read_table(tmp_path / "out" / "events")
    assert set(ev.column("run").to_pylist()) == {"light-oauth2-data-1719592986"}
    assert set(ev.column("test_case").to_pylist()) == {"correct"}
    assert set(ev.column("service").to_pylist()) == {"token"}
    assert set(ev.column("label").to_pylist()) == {0}
    levels = pc.value_counts(ev.column("level")).to_pylist()
    assert {d["values"]: d["counts"] for d in levels}["ERROR"] == 61


def test_cli_exit_codes(ray_session, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", str(tmp_path / "missing.log"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "input not found" in res.output
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "ok.log").write_text("hello\n")
    res = runner.invoke(app, ["ingest", str(tmp_path / "empty.log"), str(tmp_path / "ok.log"),
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "empty file" in res.output and "1 of 2 file(s) failed" in res.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["totals"]["events"] == 1


def test_synthetic_lo2_tree_and_tars_give_the_same_events(ray_session, tmp_path):
    from logad.synth import run_synth

    root = tmp_path / "lo2"
    run_synth("lo2", root, {"seed": 5, "lo2": {"runs": 2, "errors_per_run": 2, "lines_per_file": 120, "tar": True}})
    cols = ["raw", "line_no", "run", "test_case", "service", "label", "level"]
    m_dir = run_ingest([str(root / "light-oauth2-data-*[0-9]")], tmp_path / "dir", {"preset": "lo2"})
    m_tar = run_ingest([str(root / "*.tar")], tmp_path / "tar", {"preset": "lo2", "lo2": {"load_metrics": True}})
    assert m_dir["totals"] == m_tar["totals"] and m_dir["n_files"] == m_tar["n_files"] == 2 * 3 * 7
    a = _events(tmp_path / "dir").select(cols)
    b = _events(tmp_path / "tar").select(cols)
    assert a.equals(b)
    assert m_dir["totals"]["unmatched"] == 0
    # stack traces stay with the ERROR entry above them, and are counted as read lines
    raws = a.column("raw").to_pylist()
    assert any("\n\tat " in r for r in raws)
    assert m_dir["totals"]["lines_read"] > m_dir["totals"]["events"]
    assert set(a.column("label").to_pylist()) == {0, 1}
    assert m_tar["metrics_rows"] > 0
    # a reproducible draw of error cases per run
    pick = run_ingest([str(root / "*.tar")], tmp_path / "pick",
                      {"preset": "lo2", "lo2": {"errors_per_run": 1, "seed": 1, "services": ["token"]}})
    assert pick["n_files"] == 2 * 2


def test_cli_ingest_then_parse_in_one_go(ray_session, tmp_path):
    src = _hdfs_like(tmp_path, n=300)
    res = CliRunner().invoke(app, ["ingest", str(src), "--preset", "HDFS", "--out", str(tmp_path / "ev"),
                                   "--parse-out", str(tmp_path / "parsed")])
    assert res.exit_code == 0, res.output
    parsed = pq.read_table(tmp_path / "parsed" / "events")
    assert parsed.num_rows == 300 and "template_id" in parsed.column_names
    templates = pq.read_table(tmp_path / "parsed" / "templates.parquet")
    assert templates.num_rows == 1  # one HDFS template, every variable part masked
