"""Atomic writes leave the old or the new file, never half of one, readable by others."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logad.errors import ConfigError
from logad.io import ParquetSettings, atomic_dir, atomic_path


def test_atomic_path_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "x").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "y").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["x"]
    with atomic_dir(target) as tmp:
        (tmp / "z").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["z"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def _events_like(n=500):
    return pa.table({"path": ["a.log"] * n, "order": list(range(n)), "level": ["INFO"] * n,
                     "content": [f"line {i}" for i in range(n)],
                     "raw": [f"x line {i}" for i in range(n)]})


def test_parquet_settings_skip_dictionary_and_statistics_on_text_columns(tmp_path):
    t = _events_like()
    opts = ParquetSettings.from_config(None).writer_options(t.schema)
    assert (opts["compression"], opts["compression_level"]) == ("zstd", -3)
    pq.write_table(t, tmp_path / "e.parquet", **opts)
    meta = pq.ParquetFile(tmp_path / "e.parquet").metadata.row_group(0)
    col = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert col["order"].statistics.has_min_max and col["path"].statistics.has_min_max
    assert not (col["content"].statistics and col["content"].statistics.has_min_max)
    assert not (col["raw"].statistics and col["raw"].statistics.has_min_max)
    assert "RLE_DICTIONARY" in col["path"].encodings and "RLE_DICTIONARY" in col["level"].encodings
    assert "RLE_DICTIONARY" not in col["content"].encodings
    assert col["content"].compression == "ZSTD"
    assert pq.read_table(tmp_path / "e.parquet").equals(t)  # settings change size, never data


def test_parquet_settings_take_an_explicit_dictionary_list():
    opts = ParquetSettings.from_config({"compression": "LZ4", "dictionary": ["level"]},
                                       "parse parquet").writer_options(_events_like().schema)
    assert (opts["compression"], opts["compression_level"]) == ("lz4", None)
    assert opts["use_dictionary"] == ["level"]
    assert opts["write_statistics"] == ["path", "order", "level"]


@pytest.mark.parametrize("cfg, key", [
    ({"compression": "rar"}, "parse parquet.compression"),
    ({"compression_level": "fast"}, "parse parquet.compression_level"),
    ({"compression": "none", "compression_level": 3}, "parse parquet.compression_level"),
    ({"dictionary": "path"}, "parse parquet.dictionary"),
    ({"compresion": "zstd"}, "parse parquet: unknown key"),
])
def test_parquet_settings_name_the_bad_setting(cfg, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ParquetSettings.from_config(cfg, "parse parquet")


# -- the manifest as the commit point (issue 17 item 1) -------------------------------------------

def _stage(tmp_path, parts=(3, 2), status="complete", stage="ingest"):
    from logad.io import part_entries, write_json

    root = tmp_path / "stage"
    (root / "events").mkdir(parents=True)
    names = []
    for i, n in enumerate(parts):
        pq.write_table(pa.table({"x": list(range(n))}), root / "events" / f"part-{i:06d}.parquet")
        names.append(f"events/part-{i:06d}.parquet")
    write_json({"stage": stage, "status": status, "parts": part_entries(root, names)},
               root / "manifest.json")
    return root


def test_finished_parts_lists_the_parts_of_a_finished_stage(tmp_path):
    from logad.io import finished_parts

    root = _stage(tmp_path)
    assert [p.name for p in finished_parts(root, "ingest")] == ["part-000000.parquet",
                                                               "part-000001.parquet"]
    assert finished_parts(root / "events", "ingest") == finished_parts(root, "ingest")


def test_finished_parts_refuses_a_folder_without_manifest(tmp_path):
    from logad.errors import InputError
    from logad.io import finished_parts

    root = _stage(tmp_path)
    (root / "manifest.json").unlink()
    with pytest.raises(InputError, match="unfinished input.*re-run the same `logad ingest`"):
        finished_parts(root, "ingest")


@pytest.mark.parametrize("damage, message", [
    ("status", "unfinished input"), ("stage", "written by `logad parse`"),
    ("missing", "is missing"), ("truncated", "damaged part"), ("rows", "rows, but"),
    ("old", "lists no parts")])
def test_finished_parts_names_what_is_wrong(tmp_path, damage, message):
    from logad.errors import InputError
    from logad.io import finished_parts, read_json, write_json

    root = _stage(tmp_path, status="running" if damage == "status" else "complete",
                  stage="parse" if damage == "stage" else "ingest")
    part = root / "events" / "part-000001.parquet"
    if damage == "missing":
        part.unlink()
    elif damage == "truncated":
        part.write_bytes(part.read_bytes()[:40])
    elif damage == "rows":
        pq.write_table(pa.table({"x": [1, 2, 3, 4]}), part)
    elif damage == "old":
        m = read_json(root / "manifest.json")
        del m["parts"]
        write_json(m, root / "manifest.json")
    with pytest.raises(InputError, match=message) as err:
        finished_parts(root, "ingest")
    if damage in ("missing", "truncated", "rows"):
        assert "part-000001.parquet" in str(err.value)


def test_run_lock_turns_a_second_run_away_and_goes_with_the_first(tmp_path):
    from logad.errors import InputError
    from logad.io import run_lock

    with run_lock(tmp_path / "out", "parse"):
        with pytest.raises(InputError, match=r"another logad run is writing here \(pid \d+, logad parse\)"):
            with run_lock(tmp_path / "out", "parse"):
                pass
    with run_lock(tmp_path / "out", "parse"):  # free again
        pass


def test_remove_leftovers_takes_only_temporary_names(tmp_path):
    from logad.io import remove_leftovers

    (tmp_path / ".events.abc.tmp").mkdir()
    (tmp_path / ".events.abc.tmp" / "part-000000.parquet").write_bytes(b"x")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / ".part-000001.parquet.tmp").write_bytes(b"x")
    (tmp_path / "events" / "part-000000.parquet").write_bytes(b"x")
    (tmp_path / ".events.old-123").mkdir()
    assert remove_leftovers(tmp_path, ("events",)) == 3
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["events", "part-000000.parquet"]


def test_atomic_dir_removes_what_a_dead_run_left_beside_it_and_nothing_else(tmp_path):
    host = socket.gethostname().replace(".", "_")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = [f".scores.{host}-{dead}.k3j.tmp", f".scores.old-{host}-{dead}"]
    kept = [f".scores.{host}-{os.getpid()}.live.tmp",   # a run still going (this process)
            f".scores.otherhost-{dead}.x.tmp",          # another machine's: not ours to judge
            ".scores.abc.tmp", ".other.x-1.tmp"]        # no owner / another output
    for name in left + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "part-00000.parquet").write_bytes(b"x")
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "old.txt").write_text("previous output")
    with atomic_dir(tmp_path / "scores") as tmp:
        assert sorted(p.name for p in tmp_path.iterdir() if p.name in left) == []
        assert (tmp_path / "scores" / "old.txt").read_text() == "previous output"  # until done
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["scores"])
    assert [p.name for p in (tmp_path / "scores").iterdir()] == ["new.txt"]
