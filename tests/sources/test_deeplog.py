"""DeepLog-style session files: parsing, labels from names or a file, rejects, the CLI."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from logad.cli import app
from logad.sources.deeplog import label_from_name, parse_session_lines


def test_label_from_name():
    assert label_from_name("/x/hdfs_test_abnormal") == 1
    assert label_from_name("hdfs_test_normal") == 0
    assert label_from_name("hdfs_train") is None


def test_parse_rejects_what_is_not_a_session():
    table, rej = parse_session_lines(["5 5 22 11", "", "5 x 3", "7"], path="f", file_index=0,
                                     labels=[0, 0, 1, 1])
    assert table.column("event_ids").to_pylist() == [["5", "5", "22", "11"], ["7"]]
    assert table.column("n_distinct").to_pylist() == [3, 1]
    assert table.column("label").to_pylist() == [0, 1]
    assert [(r[0], r[1]) for r in rej] == [(2, "blank line"), (3, "not a list of integer event keys")]


def test_cli_ingest_sessions(tmp_path):
    (tmp_path / "hdfs_test_normal").write_text("\n".join("5 5 22 11 9" for _ in range(40)) + "\n")
    (tmp_path / "hdfs_test_abnormal").write_text("\n".join("5 22 7 7" for _ in range(10)) + "\n")
    res = CliRunner().invoke(app, ["ingest-sessions", str(tmp_path / "hdfs_test_normal"),
                                   str(tmp_path / "hdfs_test_abnormal"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    seqs = pq.read_table(tmp_path / "o" / "sequences")
    assert seqs.num_rows == 50
    assert sorted(set(seqs.column("split").to_pylist())) == ["test", "train", "val"]
    labels = dict(zip(seqs.column("session_id").to_pylist(), seqs.column("label").to_pylist()))
    assert labels["hdfs_test_abnormal:3"] == 1 and labels["hdfs_test_normal:3"] == 0
    # chronological = input order: files in the order given, then line order
    split = dict(zip(seqs.column("session_id").to_pylist(), seqs.column("split").to_pylist()))
    assert split["hdfs_test_normal:1"] == "train" and split["hdfs_test_abnormal:10"] == "test"


def test_cli_reads_a_logdeep_sequence_label_csv(tmp_path):
    rows = ["Sequence,label"] + [f'"[5, 5, 22, {i % 3}]",0' for i in range(30)] + \
        ['"[5, 9, 9]",1'] * 10 + ["nonsense,0", '"[5, 5]",maybe']
    (tmp_path / "robust_log_train.csv").write_text("\n".join(rows) + "\n")
    res = CliRunner().invoke(app, ["ingest-sessions", str(tmp_path / "robust_log_train.csv"),
                                   "--out", str(tmp_path / "o"), "--val-frac", "0.2",
                                   "--test-frac", "0.3"])
    assert res.exit_code == 0, res.output
    seqs = pq.read_table(tmp_path / "o" / "sequences")
    assert seqs.num_rows == 40
    assert sorted(set(seqs.column("label").to_pylist())) == [0, 1]
    assert seqs.column("event_ids")[0].as_py() == ["5", "5", "22", "0"]
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["totals"] == {"lines_read": 42, "parsed": 40, "rejected": 2}
    assert m["labels"] == {"normal": 30, "anomalous": 10, "unlabelled": 0}
    assert [m["split"]["splits"][s]["sessions"] for s in ("train", "val", "test")] == [20, 8, 12]
    assert "label anomalous" in res.output and "test sessions (anomalous)" in res.output


def test_cli_label_per_file_dedup_and_train_normal_only(tmp_path):
    (tmp_path / "hdfs_train").write_text("\n".join(["5 5 22", "5 5 22", "7 7"] * 10) + "\n")
    (tmp_path / "bad_ones").write_text("\n".join(f"9 9 {i}" for i in range(10)) + "\n")
    res = CliRunner().invoke(app, ["ingest-sessions", str(tmp_path / "hdfs_train"),
                                   str(tmp_path / "bad_ones"), "--label", "hdfs_train=normal",
                                   "--label", "bad_ones=anomaly", "--dedup",
                                   "--train-normal-only", "--val-frac", "0.25", "--test-frac",
                                   "0.25", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["split"]["duplicates_removed"] == 28  # 2 distinct normal sessions + 10 anomalous
    assert m["split"]["splits"]["train"]["anomalous"] == 0
    seqs = pq.read_table(tmp_path / "o" / "sequences")
    labels = dict(zip(seqs.column("session_id").to_pylist(), seqs.column("label").to_pylist()))
    assert labels["hdfs_train:1"] == 0 and labels["bad_ones:10"] == 1


def test_cli_stops_when_no_session_could_be_read(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    res = CliRunner().invoke(app, ["ingest-sessions", str(tmp_path / "x.csv"),
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "no session read" in res.output and "Sequence" in res.output
