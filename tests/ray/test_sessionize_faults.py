"""A sessionize worker killed mid-run: its work is redone on a worker that has the run's state,
the output equals a clean run's and the manifest says how many items were redone; when no
worker is left the stage stops with one clear error."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.errors import WorkerLost
from logad.ray.sessionize import run_sessionize
from logad.ray.workers import Workers
from tests.ray.helpers import kill_worker_when
from tests.sessions.factory import make_events, write_parsed

N_LINES, N_BLOCKS = 40_000, 997


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """HDFS-like parsed events: 40 parts, one block id a line, labels on a few blocks."""
    rows = [{"source": "HDFS", "path": f"f{i // 4000}.log", "line_no": i % 4000 + 1,
             "order": ((i // 4000) << 40) + i % 4000 + 1, "t": i, "block_ids": [f"blk_{i % N_BLOCKS}"],
             "label": int(i % N_BLOCKS == 5), "template_id": f"{i % 13:016x}"} for i in range(N_LINES)]
    events = make_events(rows, extra={"block_ids": pa.list_(pa.string())})
    return write_parsed(events, tmp_path_factory.mktemp("faults") / "parsed", n_parts=40)


def _sequences(out: Path) -> pa.Table:
    files = sorted(glob.glob(str(out / "sequences" / "*.parquet")))
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by("session_id")


CFG = {"by": "block", "workers": 2, "ray": {"in_process_below": 0, "num_partitions": 64}}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("phase,pattern", [
    ("key", "_spill/keyed-*.arrow"),                # pass 1: keying and spilling the units
    ("write", ".sequences.*.tmp/part-*.parquet"),   # pass 2: building and writing the buckets
])
def test_a_killed_worker_is_replaced_and_the_output_equals_a_clean_run(ray_session, parsed,
                                                                      tmp_path, phase, pattern):
    clean = run_sessionize(parsed, tmp_path / "clean",
                           cfg={**CFG, "ray": {**CFG["ray"], "in_process_below": 10**9}})
    out = tmp_path / "killed"
    killed: dict = {}
    watcher = kill_worker_when(str(out / pattern), "SessionizeWorker", killed)
    try:
        m = run_sessionize(parsed, out, cfg=CFG)
    finally:
        killed["stop"] = True
        watcher.join()
    assert killed.get("pid"), "the worker was not killed while the run went on"
    assert m["retried"] >= 1  # the manifest says work was redone
    assert clean["retried"] == 0
    for key in ("events_read", "lines_sessioned", "session_rows", "sessions_written", "splits"):
        assert m[key] == clean[key], key
    assert _sequences(out).equals(_sequences(tmp_path / "clean"))


class _Scaled:
    """A worker whose result needs the state :meth:`Workers.each` handed it."""

    def __init__(self) -> None:
        self.factor = None

    def ready(self) -> bool:
        return True

    def pid(self, _: object = None) -> int:
        return os.getpid()

    def set_factor(self, factor: int) -> bool:
        self.factor = factor
        return True

    def run(self, item: int) -> int:
        return item * self.factor  # a TypeError on a restarted worker that lost its state


@pytest.mark.timeout(300)
def test_a_restarted_worker_gets_its_state_back_and_a_worker_dead_for_good_is_an_error(ray_session):
    workers = Workers(_Scaled, n=1)
    try:
        workers.each("set_factor", 7)
        (first,) = workers.each("pid")
        os.kill(first, 9)  # Ray restarts it once, with its constructor's state only
        assert list(workers.map("run", range(6))) == [7 * i for i in range(6)]
        assert workers.retried >= 1
        (second,) = workers.each("pid")
        assert second != first
        os.kill(second, 9)  # no restart left
        with pytest.raises(WorkerLost, match="every worker of this stage died"):
            list(workers.map("run", range(6)))
    finally:
        workers.close()
