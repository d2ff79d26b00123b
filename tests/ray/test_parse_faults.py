"""A parse worker's process killed while it writes parsed parts (pass 2): its items are redone on
a worker that holds the template mapping; the output equals a clean run's and the manifest says
how many items were redone. Before, Ray retried the task on the restarted actor, which had lost
its mapping: it wrote parts with unknown ids into the working folder, and the run lost lines."""

from __future__ import annotations


import pyarrow.parquet as pq
import pytest

from logad.ray.parse import run_parse
from tests.ray.helpers import kill_worker_when
from tests.parsing.factory import HDFS_LINES, events_table, write_events_dir


@pytest.mark.timeout(300)
def test_a_worker_killed_in_pass_2_is_replaced_and_the_output_equals_a_clean_run(
        ray_session, tmp_path, monkeypatch):
    tables = [events_table([line.replace("blk_", f"blk_{k}{j}_") for j in range(300)
                            for line in HDFS_LINES], path=f"f{k}.log", file_index=k)
              for k in range(30)]
    events = write_events_dir(tmp_path / "in", tables, row_group_size=1000)  # 90 units
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # a worker without its state wrote here
    clean = run_parse(events, tmp_path / "clean", cfg={"workers": 2, "in_process_below": 0})
    out = tmp_path / "killed"
    killed: dict = {}
    watcher = kill_worker_when(str(out / ".events.*.tmp" / "part-*"), "ParseWorker", killed)
    try:
        m = run_parse(events, out, cfg={"workers": 2, "in_process_below": 0})
    finally:
        killed["stop"] = True
        watcher.join()
    assert killed.get("pid"), "no worker was killed while the run went on"
    assert m["retried"] >= 1 and clean["retried"] == 0
    assert m["counts"] == clean["counts"]
    a = pq.read_table(tmp_path / "clean" / "events").sort_by("order")
    b = pq.read_table(out / "events").sort_by("order")
    assert a.num_rows == b.num_rows == 90_000
    assert a.column("template_id").equals(b.column("template_id"))
    assert list(cwd.iterdir()) == []
