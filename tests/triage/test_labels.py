"""Label sources, their order of trust, --new-only and the never-overwrite rule."""

from __future__ import annotations

import doctest
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from logad.errors import InputError
from logad.triage import labels as L
from logad.triage.runs import run_label


def test_ground_truth_cuts_the_alert_field(small_labels):
    t = pq.read_table(small_labels / "labels.parquet").to_pandas()
    bgl = t[t.dataset == "BGL"]
    assert len(bgl) == 300 and set(bgl.source) == {"ground_truth"}
    assert not bgl.line.str.match(r"^(-|[A-Z]+) \d{10} ").any()  # the tag is gone
    assert len(t) == 1200


def test_ground_truth_labels_alerts_look(small_logs):
    pairs = L.read_lines(small_logs / "BGL_2k.log")
    rows = L.ground_truth(pairs, "BGL")
    want = sum(1 for _, t in pairs if not t.startswith("- "))
    assert sum(r["label"] for r in rows) == want > 0


def test_user_labels_by_number_and_text(small_logs, tmp_path):
    datasets = {"HDFS": L.read_lines(small_logs / "HDFS_2k.log")}
    text3 = datasets["HDFS"][2][1]
    f = tmp_path / "u.jsonl"
    f.write_text("\n".join([
        json.dumps({"dataset": "HDFS", "line": 1, "label": "LOOK", "reason": "r"}),
        json.dumps({"dataset": "HDFS", "line": text3, "label": "skip"}),
        "{broken",
        json.dumps({"dataset": "HDFS", "line": 2, "label": "MAYBE"}),
        json.dumps({"dataset": "Nope", "line": 2, "label": "LOOK"}),
        json.dumps({"dataset": "HDFS", "line": 99999, "label": "LOOK"}),
    ]) + "\n")
    rows, problems = L.read_user_labels(f)
    assert len(rows) == 4
    assert any(p.startswith(f"{f}:3:") for p in problems) and any(p.startswith(f"{f}:4:") for p in problems)
    resolved, more = L.user_rows(rows, datasets)
    got = {(r["line_no"], r["label"]) for r in resolved}
    assert (1, 1) in got and (3, 0) in got
    assert any("unknown dataset 'Nope'" in p for p in more)
    assert any("99999" in p and f"{f}:6" in p for p in more)


def test_unusable_user_file_is_one_error(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text("nope\n")
    with pytest.raises(InputError, match="no usable user label rows"):
        L.read_user_labels(f)


def test_trust_order_ground_truth_first():
    gt = [{"dataset": "a", "line_no": 1, "line": "x", "label": 1, "reason": "", "source": "ground_truth"}]
    user = [{"dataset": "a", "line_no": 1, "line": "x", "label": 0, "reason": "", "source": "user"},
            {"dataset": "a", "line_no": 2, "line": "y", "label": 0, "reason": "", "source": "user"}]
    out = L.combine(gt, user)
    assert [(r["line_no"], r["source"]) for r in out] == [(1, "ground_truth"), (2, "user")]


def test_new_only_appends_and_never_overwrites(small_logs, small_user_labels, triage_cfg, tmp_path):
    only_two = tmp_path / "two"
    only_two.mkdir()
    for s in ("BGL", "HDFS"):
        (only_two / f"{s}_2k.log").write_bytes((small_logs / f"{s}_2k.log").read_bytes())
    out = tmp_path / "labels"
    m1 = run_label([str(only_two)], out, triage_cfg, user_labels=small_user_labels)
    assert m1["rows_total"] == 600
    before = pq.read_table(out / "labels.parquet")
    # a second user file that contradicts every HDFS label: it must change nothing stored
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text("".join(json.dumps({"dataset": "HDFS", "line": i, "label": "LOOK"}) + "\n"
                               for i in range(1, 301)) + small_user_labels.read_text())
    m2 = run_label([str(small_logs)], out, triage_cfg, user_labels=flipped, new_only=True)
    assert sorted(m2["datasets_labelled_now"]) == ["OpenSSH", "Zookeeper"]
    after = pq.read_table(out / "labels.parquet")
    old = after.filter(pc.is_in(after["dataset"], pa.array(["BGL", "HDFS"])))
    assert old.to_pylist() == before.to_pylist()
    assert after.num_rows == 600 + 600 and m2["rows_added"] == 600


def test_agreement():
    ref = [{"dataset": "a", "line_no": i, "label": int(i < 2)} for i in range(4)]
    other = [{"dataset": "a", "line_no": i, "label": int(i < 1)} for i in range(4)]
    a = L.agreement(ref, other)["a"]
    assert a["agreement"] == 0.75 and a["look_recall"] == 0.5 and a["look_precision"] == 1.0


def test_docstring_examples():
    assert doctest.testmod(L).failed == 0
