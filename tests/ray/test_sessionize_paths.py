"""Sessionize in this process and on Ray actors: the same output, for any number of workers."""

from __future__ import annotations

import glob
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.sessions.worker import bucket_of
from tests.ray.test_sessionize_runner import _bgl_events, _hdfs_events, _read_sequences, _run, _write_parts

LOCAL = {"in_process_below": 10**9}
ON_RAY = {"in_process_below": 0}


def _rejected(out: Path) -> pa.Table:
    t = pa.concat_tables([pq.read_table(f) for f in sorted(glob.glob(str(out / "rejected" / "*.parquet")))])
    return t.sort_by([("path", "ascending"), ("line_no", "ascending")])


@pytest.mark.parametrize("by,extra,one_worker", [
    ("block", {}, True),
    ("block", {"dedup": True, "train_normal_only": True}, False),  # split after the build
    ("fixed", {"window": 7}, False),
    ("sliding", {"window": 10, "step": 3}, True),
    ("time", {"span": "60s", "step": "20s"}, False),
])
def test_in_process_and_ray_give_identical_output(ray_session, tmp_path, by, extra, one_worker):
    events = _hdfs_events() if by == "block" else _bgl_events()
    if by != "block":  # rank buckets are 65,536 lines: orders far apart make several
        events = events.set_column(events.schema.get_field_index("order"), "order",
                                   pa.array([i * 40_000 for i in range(events.num_rows)], pa.int64()))
    events = events.set_column(events.schema.get_field_index("raw"), "raw",
                               pa.array([f"raw {i}" for i in range(events.num_rows)]))
    parsed = _write_parts(events, tmp_path / "parsed", 4)
    runs = {"local": _run(parsed, tmp_path / "local", by=by, ray=LOCAL, **extra),
            "ray2": _run(parsed, tmp_path / "ray2", by=by, workers=2, ray={**ON_RAY, "read_blocks": 3,
                                                                          "num_partitions": 5}, **extra)}
    if one_worker:
        runs["ray1"] = _run(parsed, tmp_path / "ray1", by=by, workers=1, ray=ON_RAY, **extra)
    assert runs["local"]["in_process"] and not runs["ray2"]["in_process"] and runs["ray2"]["workers"] == 2
    want = _read_sequences(tmp_path / "local")
    assert want.num_rows > 3
    split = pq.read_table(tmp_path / "local" / "split.parquet").sort_by("session_id")
    for name in set(runs) - {"local"}:
        assert _read_sequences(tmp_path / name).equals(want), name
        assert pq.read_table(tmp_path / name / "split.parquet").sort_by("session_id").equals(split)
        assert _rejected(tmp_path / name).equals(_rejected(tmp_path / "local"))
        for k in ("events_read", "lines_sessioned", "rejected", "session_rows", "sessions_written", "splits"):
            assert runs[name][k] == runs["local"][k], (name, k)
    assert not (tmp_path / "ray2" / "_spill").exists()


def test_rejected_lines_carry_their_raw_text(tmp_path):
    events = _hdfs_events()
    events = events.set_column(events.schema.get_field_index("raw"), "raw",
                               pa.array([f"raw {i}" for i in range(events.num_rows)]))
    m = _run(_write_parts(events, tmp_path / "parsed", 2), tmp_path / "out", by="block", ray=LOCAL)
    rej = _rejected(tmp_path / "out")
    no_block = [r for r in events.to_pylist() if not r["block_ids"]]
    assert m["rejected"]["total"] == rej.num_rows == len(no_block) > 0
    want = {(r["path"], r["line_no"]): r["raw"] for r in no_block}
    assert dict(zip(zip(rej["path"].to_pylist(), rej["line_no"].to_pylist()), rej["raw"].to_pylist())) == want


def test_bucket_of_is_a_stable_function_of_the_key():
    keys = pa.array(["blk_1", "blk_2", "blk_1", None, "blk_3"] * 3)
    b = bucket_of(keys, 7)
    assert b.min() >= 0 and b.max() < 7
    assert (b[:5] == b[5:10]).all() and b[0] == b[2]
    assert (bucket_of(pa.chunked_array([keys.slice(0, 4), keys.slice(4)]), 7) == b).all()
    assert bucket_of(pa.array([], pa.string()), 3).shape == (0,)
