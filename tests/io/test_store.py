"""Stage folders on object storage (logad.io.store): parts under a run's prefix, the manifest as
the commit point, on fsspec's memory filesystem and on a real S3-protocol server (moto's)."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from logad.errors import InputError
from logad.io import (Store, commit, finished_manifest, is_remote, local_path, mark_running,
                      new_run, open_stage, part_entries, run_key)


@pytest.fixture(params=["memory", "s3"])
def folder(request):
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        return f"s3://logad-test/store-{uuid.uuid4().hex[:8]}/parsed"
    return f"memory://logad-{uuid.uuid4().hex[:8]}/parsed"


def _run(url: str, sizes=(5, 3), key="k1", **extra) -> tuple[Store, str, dict]:
    """Write a run of parts under its own prefix and commit it; returns the store, run, manifest."""
    store = Store.at(url)
    run = new_run()
    names = []
    for i, n in enumerate(sizes):
        t = pa.table({"x": list(range(n)), "split": ["train" if j % 2 else "test" for j in range(n)]})
        name = f"{run}/events/part-{i:06d}.parquet"
        store.write_parquet(t, name, row_group_size=2)
        names.append(name)
    store.write_parquet(pa.table({"session_key": ["a"], "label": [1]}), f"{run}/labels.parquet")
    doc = {"stage": "ingest", "status": "complete", "run_key": key,
           "counts": {"read": sum(sizes), "processed": sum(sizes), "rejected": 0},
           "parts": part_entries(url, names), **extra}
    return store, run, commit(store, doc, run)


def test_local_paths_and_file_urls_are_no_store(tmp_path):
    assert not is_remote(tmp_path) and not is_remote(f"file://{tmp_path}")
    assert is_remote("s3://b/x") and is_remote("memory://x")
    assert local_path(f"file://{tmp_path}") == tmp_path


def test_a_committed_run_is_read_through_its_manifest(folder):
    store, run, doc = _run(folder, preset="HDFS")
    assert doc["run"] == run and all(p["file"].startswith(run + "/") for p in doc["parts"])
    found = open_stage(folder, "ingest")
    assert [(p.rows, p.row_groups) for p in found.parts] == [(5, 3), (3, 2)]
    assert found.num_rows == 8 and found.info.preset == "HDFS" and found.info.run == run
    assert found.read(["x"], pads.field("split") == "train").column("x").to_pylist() == [1, 3, 1]
    assert found.count_rows(pads.field("split") == "train") == 3
    assert [u["row_group"] for u in found.units()] == [0, 1, 2, 0, 1]
    assert found.has_side("labels.parquet") and not found.has_side("metrics.parquet")
    assert str(found.side("labels.parquet")).startswith(folder + "/" + run)
    # given its events/ folder, the stage folder is found above it
    assert open_stage(folder + "/events", "ingest").num_rows == 8


def test_a_reader_trusts_only_the_parts_the_manifest_names(folder):
    store, run, _ = _run(folder)
    store.write_parquet(pa.table({"x": [9]}), f"{run}/events/part-000099.parquet")  # not named
    assert open_stage(folder, "ingest").num_rows == 8


def test_an_uncommitted_run_leaves_the_old_result_and_the_next_commit_cleans(folder):
    store, old, _ = _run(folder, sizes=(4,), key="old")
    killed = new_run()  # a run killed before its commit: parts written, no manifest
    store.write_parquet(pa.table({"x": [1, 2]}), f"{killed}/events/part-000000.parquet")
    mark_running(folder)  # on object storage the committed manifest stays
    found = open_stage(folder, "ingest")
    assert found.num_rows == 4 and finished_manifest(folder, "old")["run"] == old
    assert finished_manifest(folder, "other") is None
    _, new, _ = _run(folder, sizes=(2, 2), key="new")
    assert store.runs() == [new]  # the previous run's and the killed run's prefixes are gone
    assert open_stage(folder, "ingest").num_rows == 4 and finished_manifest(folder, "new")


def test_a_missing_part_or_no_manifest_is_refused_in_one_line(folder):
    with pytest.raises(InputError, match="no manifest.json"):
        open_stage(folder, "ingest")
    store, run, doc = _run(folder)
    store.remove(doc["parts"][1]["file"])
    with pytest.raises(InputError, match="missing") as exc:
        open_stage(folder, "ingest")
    assert "\n" not in str(exc.value)
    damaged = open_stage(folder, "ingest", keep_damaged=True)
    assert damaged.num_rows == 5 and len(damaged.damaged) == 1


def test_run_key_follows_an_objects_content(folder):
    store = Store.at(folder)
    store.write_bytes("in.log", b"a\n")
    k1 = run_key([store.url_of("in.log")], {"x": 1})
    assert run_key([store.url_of("in.log")], {"x": 1}) == k1
    store.write_bytes("in.log", b"a\nb\n")
    assert run_key([store.url_of("in.log")], {"x": 1}) != k1
