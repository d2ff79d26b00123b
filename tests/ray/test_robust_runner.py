"""Killed, interrupted and concurrent runs (issue 17): a stage never reads an unfinished input,
a re-run cleans up and resumes, Ctrl-C is one line and exit 130, and no Ray process outlives
the logad process that started it. The kill tests kill only the processes they started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from logad.errors import InputError
from logad.io import run_lock
from logad.ray.ingest import run_ingest
from logad.ray.parse import run_parse
from tests.conftest import ROOT
from tests.parsing.factory import HDFS_LINES, events_table, write_events_dir

N_FILES, N_LINES = 600, 10


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    """Many small files: one unit each, so an ingest on one worker takes a while."""
    d = tmp_path_factory.mktemp("many")
    for i in range(N_FILES):
        (d / f"f{i:04d}.log").write_text("".join(
            f"081109 2036{j % 60:02d} 1 INFO dfs.DataNode: file {i} line {j} blk_{i}\n"
            for j in range(N_LINES)))
    bad = os.path.join(os.fsencode(d), b"caf\xe9.log")  # a name that is not UTF-8, given as such
    with open(bad, "wb") as fh:
        fh.write(b"081109 203600 1 INFO dfs.DataNode: x\n")
    return d, os.fsdecode(bad)


def _start(args, out):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "LOGAD_RAY_OWNER")}
    return subprocess.Popen([sys.executable, "-m", "logad", *args, "--out", str(out)], cwd=ROOT,
                            env={**env, "LOGAD_PROGRESS": "0"}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_parts(proc, out, n=3, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "events").is_dir() and len(list((out / "events").glob("part-*.parquet"))) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"ingest ended before it could be stopped: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("ingest wrote no parts in time")


def _group_members(pgid):
    ps = subprocess.run(["ps", "-eo", "pid=,pgid="], capture_output=True, text=True).stdout
    return [int(p) for p, g in (line.split() for line in ps.splitlines()) if int(g) == pgid]


def _environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return [v for v in fh.read().split(b"\0") if v.startswith(b"LOGAD")]
    except OSError as exc:
        return str(exc)


def test_killed_ingest_is_refused_by_parse_then_resumed(ray_session, many_files, tmp_path):
    src, bad_name = many_files
    out = tmp_path / "events"
    proc = _start(["ingest", str(src), bad_name, "--preset", "HDFS", "--num-cpus", "1"], out)
    _wait_for_parts(proc, out)  # Ray started, the non-UTF-8 argument notwithstanding
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not (out / "manifest.json").exists()
    with pytest.raises(InputError, match="unfinished input.*re-run the same `logad ingest`"):
        run_parse(out, tmp_path / "parsed")
    # every Ray process it started goes (Ray alone left its agents running)
    deadline = time.monotonic() + 30
    while _group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _group_members(proc.pid)
    assert left == [], [(p, _environ(p)) for p in left] + [subprocess.run(
        ["pgrep", "-af", "logad.ray.reaper"], capture_output=True, text=True).stdout]

    m = run_ingest([str(src), bad_name], out, {"preset": "HDFS"})
    assert m["status"] == "complete" and m["units_skipped"] >= 3
    assert m["totals"]["events"] == N_FILES * N_LINES
    assert [e for e in m["errors"] if "not valid UTF-8" in e] and m["n_files_failed"] == 1
    assert sum(p["rows"] for p in m["parts"]) == N_FILES * N_LINES
    parsed = run_parse(out, tmp_path / "parsed")
    assert parsed["counts"]["read"] == N_FILES * N_LINES


def test_ctrl_c_exits_130_with_one_line(many_files, tmp_path):
    src, _ = many_files
    out = tmp_path / "events"
    proc = _start(["ingest", str(src), "--preset", "HDFS", "--num-cpus", "1"], out)
    _wait_for_parts(proc, out)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "logad: interrupted; re-run the same command to resume" in stderr
    assert "Traceback" not in stderr + stdout and "retried" not in stdout + stderr
    assert not (out / "manifest.json").exists()


def test_a_second_run_into_the_same_out_is_turned_away(tmp_path):
    events = write_events_dir(tmp_path / "in", [events_table(HDFS_LINES)])
    with run_lock(tmp_path / "out", "parse"):
        with pytest.raises(InputError, match="another logad run is writing here"):
            run_parse(events, tmp_path / "out")


def test_a_rerun_removes_what_a_killed_parse_left(ray_session, tmp_path):
    events = write_events_dir(tmp_path / "in", [events_table(HDFS_LINES * 3)])
    out = tmp_path / "out"
    (out / ".events.x1y2.tmp").mkdir(parents=True)
    (out / ".events.x1y2.tmp" / "part-000000.parquet").write_bytes(b"half")
    (out / "_spill").mkdir()
    (out / "_spill" / "unit-000000.parquet").write_bytes(b"old")
    m = run_parse(events, out)
    assert m["counts"]["read"] == 30
    assert sorted(p.name for p in out.iterdir() if p.name.startswith((".events", "_spill"))) == []


def test_match_only_counts_used_new_and_unmatched_templates(ray_session, tmp_path):
    first = write_events_dir(tmp_path / "a", [events_table(HDFS_LINES)])
    state = tmp_path / "templates.json"
    m1 = run_parse(first, tmp_path / "p1", drain_state=state)
    second = write_events_dir(tmp_path / "b", [events_table(HDFS_LINES[:3] + ["a brand new line"])])
    m2 = run_parse(second, tmp_path / "p2", drain_state=state, match_only=True)
    c = m2["counts"]
    assert c["templates_in_state"] == m1["counts"]["templates_used"] > c["templates_used"] >= 1
    assert c["new_templates"] == 0 and c["unmatched"] == 1
    ids = pq.read_table(tmp_path / "p2" / "events").column("template_id").to_pylist()
    assert ids.count("0" * 16) == 1
    assert json.loads((tmp_path / "p2" / "manifest.json").read_text())["parts"][0]["rows"] == 4


def test_a_killed_score_leaves_the_previous_scores_intact_and_a_rerun_finishes(ray_session, tmp_path):
    from logad.ray.score import run_score
    from logad.ray.train import run_train
    from logad.scoring.parts import read_scores
    from tests.scoring.factory import make_sequences, write_sequences

    seq = write_sequences(make_sequences(600, seed=3), tmp_path / "seq", parts=6)
    models = [str(tmp_path / m) for m in ("sequence_xgb_counts", "sequence_if_counts")]
    for d in models:
        run_train(os.path.basename(d), seq, d)
    out = tmp_path / "scores"
    first = run_score(models, seq, out)
    before = {os.path.basename(d): read_scores(out, model=os.path.basename(d)) for d in models}
    # the same scores asked again with other settings, killed while its workers write
    args = ["score", *(a for d in models for a in ("--model", d)), "--input", str(seq),
            "--batch-size", "10", "--local-below", "0", "--workers", "1", "--num-cpus", "1"]
    proc = _start(args, out)
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob(".scores.*.tmp/.staging/*")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"score ended before it could be stopped: {proc.communicate()}")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert list(tmp_path.glob(".scores.*.tmp"))  # what the killed run left
    assert json.loads((out / "manifest.json").read_text())["run_key"] == first["run_key"]
    for name, table in before.items():
        assert read_scores(out, model=name).equals(table)  # the previous output, whole
    again = run_score(models, seq, out, {"batch_size": 10, "local_below": 0, "workers": 1})
    assert not again.get("skipped") and again["run_key"] != first["run_key"]
    assert not list(tmp_path.glob(".scores.*"))  # the dead run's folder is gone
    for name, table in before.items():
        got = read_scores(out, model=name)
        assert got.column("score").equals(table.column("score")) and got.column("rank").equals(
            table.column("rank"))
