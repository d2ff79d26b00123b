"""The sessionize runner: same output for 1 and several blocks, counts add up, files written."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from logad.errors import ConfigError, InputError
from logad.sessions import SEQUENCES_SCHEMA, fixed_windows, read_sequences, sessions_by_key, sliding_windows
from tests.ray.helpers import count_footer_reads
from tests.sessions.factory import make_events, write_parsed

BLOCKS = {"block_ids": pa.list_(pa.string())}


def _hdfs_events(n: int = 120) -> pa.Table:
    rows = []
    for i in range(n):
        blocks = [f"blk_{i % 7}"] + ([f"blk_{(i + 3) % 7}"] if i % 5 == 0 else []) if i % 11 else []
        rows.append({"source": "HDFS", "path": f"f{i // 60}.log", "line_no": i % 60 + 1,
                     "order": ((i // 60) << 40) + i % 60 + 1, "t": (i * 37) % 50, "block_ids": blocks,
                     "template_id": f"{i % 4:016x}", "content": f"line {i} word{i % 3}",
                     "level": "ERROR" if i % 13 == 0 else "INFO"})
    return make_events(rows, extra=BLOCKS)


def _bgl_events(n: int = 90) -> pa.Table:
    return make_events([{"source": "BGL", "path": "bgl.log", "line_no": i + 1, "order": i + 1,
                         "t": i * 7 if i % 17 else None, "label": int(i in (20, 55)),
                         "template_id": f"{i % 5:016x}"} for i in range(n)])


def _write_parts(table: pa.Table, folder: Path, n_parts: int = 3) -> Path:
    return write_parsed(table, folder, n_parts)


def _read_sequences(out: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in sorted(glob.glob(str(out / "sequences" / "*.parquet")))]) \
        .sort_by("session_id")


def _run(parsed: Path, out: Path, **cfg):
    from logad.ray.sessionize import run_sessionize

    return run_sessionize(parsed, out, cfg=cfg)


@pytest.mark.parametrize("by,extra", [
    ("block", {}),
    ("sliding", {"window": 10, "step": 4}),
    ("time", {"span": "60s", "step": "20s"}),
])
def test_runner_output_does_not_depend_on_blocks(ray_session, tmp_path, by, extra):
    events = _hdfs_events() if by == "block" else _bgl_events()
    parsed = _write_parts(events, tmp_path / "parsed")
    one = _run(parsed, tmp_path / "one", by=by, ray={"read_blocks": 1, "num_partitions": 1}, **extra)
    many = _run(parsed, tmp_path / "many", by=by, ray={"read_blocks": 5, "num_partitions": 3}, **extra)
    a, b = _read_sequences(tmp_path / "one"), _read_sequences(tmp_path / "many")
    assert a.schema == SEQUENCES_SCHEMA and a.num_rows > 3
    assert a.equals(b)
    assert pq.read_table(tmp_path / "one" / "split.parquet").sort_by("session_id").equals(
        pq.read_table(tmp_path / "many" / "split.parquet").sort_by("session_id"))
    for m in (one, many):
        assert m["events_read"] == events.num_rows == m["lines_sessioned"] + m["rejected"]["total"]
        assert m["sessions_written"] == a.num_rows
        assert sum(v["sessions"] for v in m["splits"].values()) == a.num_rows
    assert set(a.column("split").to_pylist()) <= {"train", "val", "test"}


def test_runner_matches_the_pure_functions_and_counts_rejected(ray_session, tmp_path):
    events = _hdfs_events()
    parsed = _write_parts(events, tmp_path / "parsed")
    labels = pa.table({"session_key": ["blk_1", "blk_2"], "label": pa.array([1, 0], pa.int8())})
    pq.write_table(labels, parsed / "labels.parquet")
    m = _run(parsed, tmp_path / "out", by="block", split={"how": "random", "seed": 3})
    got = _read_sequences(tmp_path / "out")
    want = sessions_by_key(events, "block_ids", explode=True, labels=labels).sort_by("session_id")
    assert got.drop_columns(["split"]).equals(want.drop_columns(["split"]))
    no_block = sum(1 for b in events.column("block_ids").to_pylist() if not b)
    assert m["rejected"] == {"total": no_block, "reasons": {"no session key: block_ids is null or empty": no_block}}
    rej = pq.read_table(glob.glob(str(tmp_path / "out" / "rejected" / "*.parquet")))
    assert rej.num_rows == no_block and set(rej.column_names) == {"path", "line_no", "reason", "raw"}
    assert m["labels_from"].endswith("labels.parquet")
    assert dict(zip(got["session_id"].to_pylist(), got["label"].to_pylist()))["blk_1"] == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["sessions_written"] == got.num_rows
    ordered = read_sequences(tmp_path / "out")
    assert ordered.sort_by("session_id").equals(got)
    keys = [(r["start_time"], r["first_order"], r["session_id"]) for r in ordered.to_pylist()]
    assert keys == sorted(keys)
    test = read_sequences(tmp_path / "out" / "sequences", splits="test", columns=["session_id", "label"])
    assert test.column_names == ["session_id", "label"]
    assert test.num_rows == manifest["splits"]["test"]["sessions"] > 0
    assert (tmp_path / "out" / "sessionize_config.yaml").is_file()


def test_runner_windows_match_pure_functions_dedup_and_normal_only(ray_session, tmp_path):
    events = _bgl_events()
    parsed = _write_parts(events, tmp_path / "parsed")
    m = _run(parsed, tmp_path / "fixed", by="fixed", window=8, ray={"read_blocks": 4})
    assert _read_sequences(tmp_path / "fixed").drop_columns(["split"]).equals(
        fixed_windows(events, 8).sort_by("session_id").drop_columns(["split"]))
    assert m["rejected"]["total"] == 0 and m["session_rows"] == events.num_rows
    m = _run(parsed, tmp_path / "slide", by="sliding", window=6, step=2, dedup=True, train_normal_only=True,
             split={"val_frac": 0.0, "test_frac": 0.5})
    got = _read_sequences(tmp_path / "slide")
    full = sliding_windows(events, 6, 2)
    assert m["sessions_built"] == full.num_rows
    assert m["sessions_written"] == full.num_rows - m["duplicates_removed"] - m["train_anomalous_dropped"]
    assert m["train_anomalous_dropped"] > 0
    train = got.filter(pc.equal(got["split"], "train"))
    assert 1 not in train.column("label").to_pylist()


def test_runner_rejects_bad_input_and_config(tmp_path):
    from logad.ray.sessionize import resolve_config

    with pytest.raises(InputError, match="unfinished input .*logad parse"):
        _run(tmp_path, tmp_path / "out", by="block")
    parsed = _write_parts(_bgl_events(10), tmp_path / "parsed", 1)
    with pytest.raises(InputError, match="block_ids"):
        _run(parsed, tmp_path / "out", by="block")
    with pytest.raises(ConfigError, match="step"):
        resolve_config({"by": "sliding", "window": 5, "step": 9})
    with pytest.raises(ConfigError, match="span"):
        resolve_config({"by": "time", "span": "10s", "step": "1m"})
    with pytest.raises(ConfigError, match="by = 'session'.*expected 'block'"):
        resolve_config({"by": "session"})


def _cli_app():
    import typer

    from logad.cli.sessionize import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test app"""

    register(app)
    return app


def test_cli_sessionize(ray_session, tmp_path):
    from typer.testing import CliRunner

    parsed = _write_parts(_bgl_events(40), tmp_path / "parsed", 2)
    out = tmp_path / "out"
    res = CliRunner().invoke(_cli_app(), ["sessionize", str(parsed), "--out", str(out), "--by", "sliding",
                                          "--window", "8", "--step", "4", "--split", "random", "--seed", "1",
                                          "--test-frac", "0.5", "--val-frac", "0"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["by"] == "sliding" and m["split_how"] == "random" and m["splits"]["val"]["sessions"] == 0
    cfg = (out / "sessionize_config.yaml").read_text()
    assert "window: 8" in cfg and "step: 4" in cfg
    bad = CliRunner().invoke(_cli_app(), ["sessionize", str(parsed), "--out", str(out), "--by", "nope"])
    assert bad.exit_code == 2 and "by = 'nope'" in bad.output and "'sliding'" in bad.output


def test_rerun_skips_finished_work_and_redoes_changed_work(ray_session, tmp_path):
    parsed = _write_parts(_bgl_events(60), tmp_path / "parsed", 2)
    out = tmp_path / "out"
    first = _run(parsed, out, by="fixed", window=10)
    assert "skipped" not in first
    before = (out / "split.parquet").stat().st_mtime_ns
    again = _run(parsed, out, by="fixed", window=10)
    assert again["skipped"] is True and again["run_key"] == first["run_key"]
    assert (out / "split.parquet").stat().st_mtime_ns == before  # nothing rewritten
    other = _run(parsed, out, by="fixed", window=20)  # other settings: built again
    assert "skipped" not in other and other["run_key"] != first["run_key"]
    assert other["sessions_written"] == 3 and first["sessions_written"] == 6
    _write_parts(_bgl_events(80), parsed, 2)  # a new parse output in the same folder: built again
    assert "skipped" not in _run(parsed, out, by="fixed", window=20)
    pq.write_table(_bgl_events(90), parsed / "part-00001.parquet")  # changed behind the manifest
    with pytest.raises(InputError, match="rows, but .*manifest.json says"):
        _run(parsed, out, by="fixed", window=20)


def test_relative_out_folder_gives_a_finished_manifest(tmp_path, monkeypatch):
    """`logad sessionize parsed --out sessions` from the working folder (what `make demo` does)."""
    from logad.io import finished_parts

    _write_parts(_bgl_events(30), tmp_path / "parsed", 2)
    monkeypatch.chdir(tmp_path)
    m = _run(Path("parsed"), Path("runs/sessions"), by="fixed", window=10, ray={"in_process_below": 10**9})
    parts = finished_parts(tmp_path / "runs" / "sessions", "sessionize")
    assert [p.name for p in parts] and sum(pq.read_metadata(p).num_rows for p in parts) == m["sessions_written"]


def test_sessionize_plans_from_one_footer_read_a_part(tmp_path, monkeypatch):
    """The driver reads each part's footer once (open_stage: rows, row groups, schema); the
    in-process worker then opens each unit (row group) once to read it. Before, the parts
    check, the schema check, the row count and the unit list each read the footer again."""
    events = _bgl_events()
    parsed = _write_parts(events, tmp_path / "parsed")
    units = {str(p): pq.ParquetFile(p).metadata.num_row_groups for p in parsed.glob("part-*.parquet")}
    opened = count_footer_reads(monkeypatch)
    m = _run(parsed, tmp_path / "out", by="fixed", window=10, ray={"in_process_below": 10**9})
    assert m["in_process"] and m["rejected"]["total"] == 0
    for part, n_units in units.items():
        assert opened.count(part) == 1 + n_units, part
