"""DeepLog-style session files: parsing, labels from names or a file, rejects, the CLI."""

from __future__ import annotations

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
