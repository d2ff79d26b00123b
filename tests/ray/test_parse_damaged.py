"""A damaged part of a finished ingest given to ``logad parse``: named, its rows counted as
rejected, the other parts parsed; an unfinished ingest is still refused whole."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from logad.cli import app
from logad.errors import InputError
from logad.io import read_json
from logad.ray.ingest import run_ingest
from logad.ray.parse import run_parse

N_FILES, N_LINES = 4, 50


@pytest.fixture
def ingested(ray_session, tmp_path):
    """A real ingest output of four HDFS files (one part each, a blank line rejected in each)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(N_FILES):
        (logs / f"f{i}.log").write_text("".join(
            f"081109 2036{j % 60:02d} {j} INFO dfs.DataNode$PacketResponder: file {i} block "
            f"blk_{i}{j % 7} terminating\n" + ("\n" if j == 10 else "") for j in range(N_LINES)))
    events = tmp_path / "events"
    m = run_ingest([str(logs)], events, {"preset": "HDFS", "workers": 2})
    assert m["n_files"] == N_FILES and m["totals"]["lines_read"] == N_FILES * (N_LINES + 1)
    return events, m


def test_a_truncated_part_is_named_and_the_other_parts_are_parsed(ingested, tmp_path):
    events, ingest = ingested
    parts = [events / p["file"] for p in ingest["parts"]]
    assert len(parts) == N_FILES
    bad = parts[2]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # cut as a full disk would
    out = tmp_path / "parsed"

    res = CliRunner().invoke(app, ["parse", str(events), "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert f"logad: error: {bad}: damaged part" in res.output
    assert f"its {N_LINES} rows were not parsed" in res.output
    assert "1 input part(s) damaged; the others were parsed" in res.output

    m = read_json(out / "manifest.json")
    c = m["counts"]
    assert m["status"] == "complete"
    assert c["read"] == ingest["totals"]["events"] == N_FILES * N_LINES  # every row accounted for
    assert c["read"] == c["parsed"] + c["rejected"]
    assert c["rejected"] == N_LINES and c["parsed"] == (N_FILES - 1) * N_LINES
    assert [d["file"] for d in m["damaged_parts"]] == [str(bad)]
    assert m["damaged_parts"][0]["rows"] == N_LINES
    assert m["files"][str(bad)] == {"read": N_LINES, "parsed": 0, "rejected": N_LINES}
    for name, row in m["files"].items():
        assert row["read"] == row["parsed"] + row["rejected"], name

    parsed = pq.read_table(out / "events")
    assert parsed.num_rows == c["parsed"]
    good = {str(pq.read_table(p, columns=["path"]).column("path")[0]) for p in parts if p != bad}
    assert set(pc.unique(parsed.column("path")).to_pylist()) == good  # the other parts, whole
    assert pc.all(pc.is_valid(parsed.column("template_id"))).as_py()
    rej = pq.read_table(out / "rejected.parquet")
    (row,) = [r for r in rej.to_pylist() if r["path"] == str(bad)]
    assert "damaged part" in row["reason"] and f"its {N_LINES} rows not parsed" in row["reason"]


def test_every_part_damaged_is_one_error_naming_a_part(ingested, tmp_path):
    events, ingest = ingested
    for p in ingest["parts"]:
        (events / p["file"]).write_bytes(b"PAR1")
    with pytest.raises(InputError, match=r"no readable part \(4 damaged; first: .*part-000000"):
        run_parse(events, tmp_path / "parsed")


def test_an_unfinished_ingest_is_still_refused_whole(ingested, tmp_path):
    events, _ = ingested
    (events / "manifest.json").unlink()
    res = CliRunner().invoke(app, ["parse", str(events), "--out", str(tmp_path / "parsed")])
    assert res.exit_code != 0 and "unfinished input" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "parsed" / "manifest.json").exists()
