"""Stage folders (logad.io.stage) and the declared manifest schema (logad.io.manifest)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from logad.errors import InputError
from logad.io import (Manifest, ManifestError, finished_input, open_stage, part_entries,
                      read_manifest, sequences_parts, write_json, write_manifest)


def _stage(tmp_path, sizes=(5, 3), row_group_size=2, **extra):
    root = tmp_path / "stage"
    (root / "events").mkdir(parents=True)
    names = []
    for i, n in enumerate(sizes):
        t = pa.table({"x": list(range(n)), "split": ["train" if j % 2 else "test" for j in range(n)]})
        pq.write_table(t, root / "events" / f"part-{i:06d}.parquet", row_group_size=row_group_size)
        names.append(f"events/part-{i:06d}.parquet")
    write_json({"stage": "ingest", "status": "complete", "parts": part_entries(root, names),
                **extra}, root / "manifest.json")
    return root


def test_open_stage_keeps_each_parts_footer(tmp_path):
    root = _stage(tmp_path, preset="HDFS")
    found = open_stage(root, "ingest")
    assert [(p.path.name, p.rows, p.row_groups) for p in found.parts] == [
        ("part-000000.parquet", 5, 3), ("part-000001.parquet", 3, 2)]
    assert found.schema.names == ["x", "split"] and found.num_rows == 8
    assert found.info.preset == "HDFS" and found.info.stage == "ingest"
    # the same as before: finished_input gives the parts and the manifest as written
    files, manifest = finished_input(root, "ingest")
    assert files == found.files and manifest["preset"] == "HDFS"


def test_units_are_the_row_groups_in_input_order(tmp_path):
    found = open_stage(_stage(tmp_path), "ingest")
    units = found.units()
    assert [(u["index"], u["file"].rsplit("/", 1)[1], u["row_group"]) for u in units] == [
        (0, "part-000000.parquet", 0), (1, "part-000000.parquet", 1),
        (2, "part-000000.parquet", 2), (3, "part-000001.parquet", 0),
        (4, "part-000001.parquet", 1)]


def test_read_and_count_with_a_filter(tmp_path):
    found = open_stage(_stage(tmp_path), "ingest")
    train = pads.field("split") == "train"
    assert found.read(["x"], train).column("x").to_pylist() == [1, 3, 1]
    assert found.count_rows(train) == 3 and found.count_rows() == 8
    assert found.read().num_rows == 8


def test_sequences_parts_of_one_file(tmp_path):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"session_id": ["a", "b"]}), path)
    (part,) = sequences_parts(path)
    assert (part.path, part.rows, part.row_groups) == (path, 2, 1)


def test_the_manifest_is_checked_when_read(tmp_path):
    root = _stage(tmp_path, seconds="soon")
    with pytest.raises(InputError, match=r"manifest.json: not a logad manifest \(seconds"):
        open_stage(root, "ingest")


def test_write_manifest_holds_read_equals_processed_plus_rejected(tmp_path):
    doc = {"stage": "parse", "status": "complete",
           "counts": {"read": 10, "processed": 8, "rejected": 1}}
    with pytest.raises(ManifestError, match=r"read \(10\) != processed \(8\) \+ rejected \(1\)"):
        write_manifest(doc, tmp_path / "manifest.json")
    assert not (tmp_path / "manifest.json").exists()  # nothing written
    doc["counts"]["processed"] = 9
    assert write_manifest(doc, tmp_path / "manifest.json") is doc
    # written as given: the stage's own fields stay, nothing is renamed or added
    assert json.loads((tmp_path / "manifest.json").read_text()) == doc
    m = read_manifest(tmp_path / "manifest.json")
    assert isinstance(m, Manifest) and m.counts.processed == 9 and m.complete


def test_write_manifest_needs_the_stage(tmp_path):
    with pytest.raises(ManifestError, match="stage: Field required"):
        write_manifest({"status": "complete"}, tmp_path / "manifest.json")


def test_manifest_docstring_examples():
    import doctest

    import logad.io.manifest as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
