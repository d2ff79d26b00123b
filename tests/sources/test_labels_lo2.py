"""Label files, LO2 layout and selection, LO2 metrics. No Ray."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from logad.errors import InputError
from logad.sources.files import SourceFile, expand_sources
from logad.sources.labels import apply_labels, load_labels, session_labels
from logad.sources.lo2 import load_lo2_metrics, lo2_file_of, select_lo2


def _events(**cols):
    n = len(next(iter(cols.values())))
    base = {"line_no": pa.array(range(1, n + 1), pa.int64()), "label": pa.nulls(n, pa.int8())}
    return pa.table({**base, **cols})


def test_block_labels_any_anomalous_block_marks_the_line(tmp_path):
    f = tmp_path / "anomaly_label.csv"
    f.write_text("BlockId,Label\nblk_1,Normal\nblk_2,Anomaly\n")
    spec = load_labels(str(f))
    t = _events(block_ids=pa.array([["blk_1"], ["blk_1", "blk_2"], ["blk_9"], []], pa.list_(pa.string())))
    assert apply_labels(t, spec).column("label").to_pylist() == [0, 1, None, None]
    assert session_labels(spec).to_pydict() == {"session_key": ["blk_1", "blk_2"], "label": [0, 1]}


def test_block_labels_travel_to_a_worker_and_follow_new_keys(tmp_path):
    import pickle

    f = tmp_path / "anomaly_label.csv"
    f.write_text("BlockId,Label\nblk_1,Normal\nblk_2,Anomaly\n")
    spec = load_labels(str(f))
    t = _events(block_ids=pa.array([["blk_1"], ["blk_2"], ["blk_3"]], pa.list_(pa.string())))
    assert apply_labels(t, spec).column("label").to_pylist() == [0, 1, None]
    shipped = pickle.loads(pickle.dumps(spec))  # as a Ray actor receives it
    assert shipped._lookup is None
    assert apply_labels(t, shipped).column("label").to_pylist() == [0, 1, None]
    spec.keys["blk_3"] = 1
    assert apply_labels(t, spec).column("label").to_pylist() == [0, 1, 1]


def test_instance_labels(tmp_path):
    f = tmp_path / "abnormal_instances.txt"
    f.write_text("aaa\nbbb\n")
    spec = load_labels(str(f))
    t = _events(instance_id=pa.array(["aaa", "ccc", None], pa.string()))
    assert apply_labels(t, spec).column("label").to_pylist() == [1, 0, None]
    assert session_labels(spec, ["ccc"]).to_pydict() == {"session_key": ["aaa", "bbb", "ccc"],
                                                         "label": [1, 1, 0]}


def test_line_labels_and_bad_label_files(tmp_path):
    f = tmp_path / "kernel_labels.csv"
    f.write_text("line_no,label\n1,0\n2,1\n")
    spec = load_labels(str(f))
    assert apply_labels(_events(x=[1, 2, 3]), spec, "k.log").column("label").to_pylist() == [0, 1, None]
    bad = tmp_path / "bad.csv"
    bad.write_text("line_no,label\nx,1\n")
    with pytest.raises(InputError, match=r"bad.csv:2"):
        load_labels(str(bad))
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="cannot tell the label format"):
        load_labels(str(odd))


def _lo2_tree(root, runs=("light-oauth2-data-1000", "light-oauth2-data-2000"),
              cases=("correct", "delete_token_404", "client_not_found_404", "invalid_grant_400")):
    for run in runs:
        for case in cases:
            for svc in ("token", "client", "refresh-token"):
                p = root / run / case / f"light-oauth2-oauth2-{svc}-1.log"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("16:29:40.221 [XNIO-1 task-4]  abc DEBUG c.n.X m - hello\n")
    (root / "metrics").mkdir()
    (root / "metrics" / f"{runs[0]}.csv").write_text("timestamp,test_name,cpu,mem\n1.0,correct,0.5,100\n2.0,correct,0.7,x\n")
    (root / runs[0] / "metric_rate.json").write_text(json.dumps(
        {"metric": {"service": "token"}, "values": [[1.0, "3"], [2.0, "4"]]}))


def test_lo2_layout_and_reproducible_selection(tmp_path):
    _lo2_tree(tmp_path)
    files = expand_sources([str(tmp_path)])
    info = lo2_file_of(SourceFile(url="/r/light-oauth2-data-5/delete_token_404/light-oauth2-oauth2-refresh-token-1.log", size=1))
    assert (info.run, info.test_case, info.service, info.label) == (
        "light-oauth2-data-5", "delete_token_404", "refresh-token", 1)
    chosen, other = select_lo2(files, errors_per_run=1, seed=3, services=["token"])
    assert other == 2  # the metrics files
    assert {(f.run, f.test_case == "correct") for f in chosen} == {
        ("light-oauth2-data-1000", True), ("light-oauth2-data-1000", False),
        ("light-oauth2-data-2000", True), ("light-oauth2-data-2000", False)}
    again, _ = select_lo2(files, errors_per_run=1, seed=3, services=["token"])
    assert [f.file.url for f in again] == [f.file.url for f in chosen]
    picks = {tuple(f.test_case for f in select_lo2(files, errors_per_run=1, seed=s)[0]) for s in range(12)}
    assert len(picks) > 1  # the seed matters
    first_run, _ = select_lo2(files, runs=1)
    assert {f.run for f in first_run} == {"light-oauth2-data-1000"} and len(first_run) == 12
    with pytest.raises(InputError, match="unknown LO2 service"):
        select_lo2(files, services=["tokn"])


def test_lo2_metrics_table_and_problems(tmp_path):
    _lo2_tree(tmp_path)
    table, problems = load_lo2_metrics(expand_sources([str(tmp_path)]))
    rows = table.to_pylist()
    assert {(r["metric"], r["timestamp"], r["value"]) for r in rows} == {
        ("cpu", 1.0, 0.5), ("mem", 1.0, 100.0), ("cpu", 2.0, 0.7), ("rate", 1.0, 3.0), ("rate", 2.0, 4.0)}
    assert {r["run"] for r in rows} == {"light-oauth2-data-1000"}
    assert {r["labels"] for r in rows if r["metric"] == "cpu"} == {'{"test_name": "correct"}'}
    assert len(problems) == 1 and "light-oauth2-data-1000.csv:3" in problems[0] and "mem" in problems[0]
