"""The parse runner on Ray: same ids for any block/worker count, counts, skip, state, CLI."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from logad.cli import parse as parse_cli
from logad.parsing.loghub import load_loghub_2k
from logad.ray.parse import run_parse
from logad.schema import UNKNOWN_TEMPLATE_ID
from tests.conftest import require_shared
from tests.parsing.factory import events_table, write_events_dir


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory):
    root = require_shared("loghub_2k").parent
    hdfs = load_loghub_2k(root, "HDFS").content
    ostack = load_loghub_2k(root, "OpenStack").content
    first = hdfs[:1500] + [None] + ostack[:500]
    second = ostack[500:] + hdfs[1500:]
    tables = [events_table(first, path="a.log", file_index=0),
              events_table(second, path="b.log", file_index=1)]
    return write_events_dir(tmp_path_factory.mktemp("parse_in"), tables, preset="HDFS",
                            row_group_size=300)


@pytest.fixture(scope="module")
def cfg():
    # small batches, so blocks are not merged into one batch and every pass sees many of them
    # on Ray (this input is below the in-process threshold), as `logad parse` resolves it
    return {"batch_size": 400, "in_process_below": 0}


def _ids(out):
    t = pq.read_table(out / "events").sort_by("order")
    return t.column("order").to_pylist(), t.column("template_id").to_pylist()


@pytest.fixture(scope="module")
def reference(ray_session, events_dir, cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    manifest = run_parse(events_dir, out, cfg=cfg, num_blocks=1)
    return out, manifest


@pytest.mark.parametrize("num_blocks, workers, spill, below",
                         [(2, None, True, 0), (4, None, True, 0), (8, None, True, 0), (4, 1, True, 0),
                          (4, 2, True, 0), (4, 2, False, 0), (None, 2, True, 0),
                          (None, None, True, 10**9), (4, None, False, 10**9)])
def test_ids_do_not_depend_on_blocks_or_workers(ray_session, events_dir, cfg, reference, tmp_path,
                                                num_blocks, workers, spill, below):
    """... nor on running in this process (``below``: the in-process threshold)."""
    ref_out, _ = reference
    m = run_parse(events_dir, tmp_path, cfg={**cfg, "workers": workers, "spill": spill,
                                             "in_process_below": below}, num_blocks=num_blocks)
    assert m["in_process"] is bool(below)
    assert _ids(tmp_path) == _ids(ref_out)
    assert not (tmp_path / "_spill").exists()  # the spill is removed when the run completes
    assert pq.read_table(tmp_path / "templates.parquet").equals(
        pq.read_table(ref_out / "templates.parquet"))


def test_manifest_counts_and_outputs(reference):
    out, m = reference
    c = m["counts"]
    assert c["read"] == 4001 and c["rejected"] == 1 and c["read"] == c["parsed"] + c["rejected"]
    for row in m["files"].values():
        assert row["read"] == row["parsed"] + row["rejected"]
    assert m["files"]["a.log"]["rejected"] == 1
    assert set(m["seconds"]) >= {"read_mask_distinct", "mine", "assign_write"}
    w = m["workers"]  # one group here (num_blocks=1), so one worker; its memory as it measured it
    assert w["count"] == 1 and w["groups"] == 1
    assert 0 < w["start_rss_mb"] <= w["peak_rss_mb"]
    assert len(m["event_files"]) == 14  # one file per input row group (units of work)
    assert not (out / "_spill").exists()
    events = pq.read_table(out / "events")
    assert events.num_rows == c["parsed"] and "template_id" in events.column_names
    assert "_masked" not in events.column_names
    rej = pq.read_table(out / "rejected.parquet")
    assert rej.column("line_no").to_pylist() == [1501] and rej.column("path").to_pylist() == ["a.log"]
    assert rej.column("raw").to_pylist() == ["\x00garbage"]  # pass 1 reads raw only for such lines
    templates = pq.read_table(out / "templates.parquet")
    assert sum(templates.column("count").to_pylist()) == c["parsed"]
    assert set(events.column("template_id").to_pylist()) == set(templates.column("template_id").to_pylist())
    state = json.loads((out / "template_state.json").read_text())
    assert state["format"] == "logad-template-state" and state["masking"]["preset"] == "HDFS"
    assert (out / "parse_config.yaml").is_file()


def test_rerun_with_same_inputs_skips(ray_session, events_dir, cfg, reference):
    out, m = reference
    again = run_parse(events_dir, out, cfg=cfg, num_blocks=1)
    assert again["skipped"] is True and again["run_key"] == m["run_key"]


def test_shared_state_keeps_ids_and_match_only_counts_unknown(ray_session, events_dir, cfg,
                                                             tmp_path):
    state = tmp_path / "templates.json"
    first = run_parse(events_dir, tmp_path / "one", cfg=cfg, drain_state=state)
    assert state.is_file()
    ids_one = dict(zip(*_ids(tmp_path / "one")))
    # a second corpus: the same lines plus lines of another system
    root = require_shared("loghub_2k").parent
    extra = load_loghub_2k(root, "Zookeeper").content[:300]
    second = write_events_dir(tmp_path / "in2", [events_table(extra, path="z.log")], preset="HDFS")
    run_parse(second, tmp_path / "two", cfg=cfg, drain_state=state)
    # re-running the run that saved the state skips: the state it finds is the one it left
    assert run_parse(second, tmp_path / "two", cfg=cfg, drain_state=state).get("skipped") is True
    again = run_parse(events_dir, tmp_path / "three", cfg=cfg, drain_state=state)
    assert dict(zip(*_ids(tmp_path / "three"))) == ids_one
    assert again["counts"]["new_templates"] == 0
    # match-only: the Zookeeper templates exist now; Linux lines are unknown
    linux = load_loghub_2k(root, "Linux").content[:200]
    third = write_events_dir(tmp_path / "in3", [events_table(linux + extra[:50], path="l.log")],
                             preset="HDFS")
    before = state.read_bytes()
    m = run_parse(third, tmp_path / "four", cfg=cfg, drain_state=state, match_only=True)
    ids = _ids(tmp_path / "four")[1]
    assert m["counts"]["unmatched"] == sum(i == UNKNOWN_TEMPLATE_ID for i in ids) > 0
    assert all(i != UNKNOWN_TEMPLATE_ID for i in ids[-50:])
    assert state.read_bytes() == before
    assert first["counts"]["templates"] < m["counts"]["templates"]


def test_distinct_cap_stops_with_the_setting_name(ray_session, events_dir, cfg, tmp_path):
    from logad.errors import LogadError

    with pytest.raises(LogadError, match="max_distinct"):
        run_parse(events_dir, tmp_path, cfg={**cfg, "max_distinct": 5})
    assert not (tmp_path / "manifest.json").exists()


def test_cli_parse_no_mask_and_export(ray_session, events_dir, tmp_path):
    app = typer.Typer()
    parse_cli.register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["parse", str(events_dir), "--out", str(tmp_path / "p"),
                              "--no-mask", "block_id", "--num-blocks", "2"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert "block_id" not in m["masking_rules"] and m["no_mask"] == ["block_id"]
    res = runner.invoke(app, ["parse", str(events_dir), "--out", str(tmp_path / "q"),
                              "--no-mask", "nope"])
    assert res.exit_code == 2 and "unknown rule" in res.output
    res = runner.invoke(app, ["templates", "export", str(tmp_path / "p"), "--drain3",
                              "--out", str(tmp_path / "snap.bin")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["parse", str(events_dir), "--out", str(tmp_path / "r"),
                              "--drain-state", str(tmp_path / "snap.bin")])
    assert res.exit_code == 2 and "--trust-drain3-snapshot" in res.output
    res = runner.invoke(app, ["parse", str(events_dir), "--out", str(tmp_path / "r"),
                              "--drain-state", str(tmp_path / "snap.bin"), "--trust-drain3-snapshot"])
    assert res.exit_code == 0, res.output


def test_in_process_path_gives_the_runners_ids(reference, events_dir, cfg):
    """parse_blocks (one process, its own defaults) and the Ray runner compose the same steps:
    the same ids on every line and the same templates table."""
    from logad.io import open_stage
    from logad.parsing.masking import compile_passes
    from logad.parsing.miner import DrainSettings, TemplateMiner
    from logad.parsing.steps import parse_blocks
    from logad.ray.parse import resolve_rules

    ref_out, _ = reference
    stage = open_stage(events_dir, "ingest")
    blocks = [pq.read_table(f) for f in stage.files]
    passes = compile_passes(resolve_rules(cfg, stage.info.preset))
    parsed, rejected, templates, _ = parse_blocks(
        blocks, passes, TemplateMiner(DrainSettings.from_config(cfg.get("drain"))))
    local = pa.concat_tables(parsed).sort_by("order")
    assert (local.column("order").to_pylist(), local.column("template_id").to_pylist()) \
        == _ids(ref_out)
    assert templates.equals(pq.read_table(ref_out / "templates.parquet"))
    assert rejected.equals(pq.read_table(ref_out / "rejected.parquet"))
