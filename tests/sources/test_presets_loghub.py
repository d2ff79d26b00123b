"""Every loghub preset reproduces loghub's structured CSV field for field on the 2k samples."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logad.sources.presets import Preset, load_preset, structure_lines
from tests.conftest import require_shared

SYSTEMS = ["HDFS", "Hadoop", "Spark", "Zookeeper", "OpenStack", "BGL", "HPC", "Thunderbird",
           "Windows", "Linux", "Mac", "Android", "HealthApp", "Apache", "OpenSSH", "Proxifier"]


def _read_lines(path) -> list[str]:
    """The file's lines exactly, line endings removed (CRLF or LF, last line with or without)."""
    with open(path, encoding="utf-8", newline="") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _load(system: str) -> tuple[list[str], pd.DataFrame, pa.Table, Preset]:
    folder = require_shared("loghub_2k", system)
    lines = _read_lines(folder / f"{system}_2k.log")
    csv = pd.read_csv(folder / f"{system}_2k.log_structured.csv", dtype=str, keep_default_na=False)
    preset = load_preset(system)
    return lines, csv, structure_lines(pa.array(lines), preset), preset


def _py_timestamp(preset: Preset, row: pd.Series) -> datetime:
    """Reference timestamp of one CSV row computed with the standard library, row by row."""
    spec = preset.timestamp
    values = [row[f] for f in spec.fields]
    if spec.epoch is not None:
        return datetime(1970, 1, 1) + timedelta(seconds=int(values[0]))
    text, fmt = spec.sep.join(values), spec.format
    if "%Y" not in fmt and "%y" not in fmt:
        text, fmt = f"{spec.default_year} {text}", f"%Y {fmt}"
    return datetime.strptime(text, fmt)


@pytest.mark.parametrize("system", SYSTEMS)
def test_fields_match_structured_csv(system):
    lines, csv, table, preset = _load(system)
    assert table.num_rows == len(lines) == len(csv) == 2000
    header = list(csv.columns[1:csv.columns.get_loc("Content") + 1])
    assert [f.lower() for f in preset.pattern.fields] == [h.lower() for h in header]
    assert pc.all(table.column("matched")).as_py()
    for name in header:
        got = table.column("f_" + name.lower()).to_pylist()
        expected = csv[name].tolist()
        bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
        assert not bad, (f"{system}.{name}: {len(bad)} rows differ; first LineId {bad[0] + 1}: "
                         f"got {got[bad[0]]!r}, expected {expected[bad[0]]!r}")
    assert table.column("content").to_pylist() == csv["Content"].tolist()


@pytest.mark.parametrize("system", SYSTEMS)
def test_canonical_columns_and_timestamps(system):
    _, csv, table, preset = _load(system)
    for canon in ("level", "component"):
        ref = preset.fields.get(canon)
        got = table.column(canon).to_pylist()
        assert got == (csv[ref].tolist() if ref else [None] * len(csv))
    assert table.column("timestamp").null_count == 0
    expected = [_py_timestamp(preset, row) for _, row in csv.iterrows()]
    assert table.column("timestamp").to_pylist() == expected


@pytest.mark.parametrize("system", ["BGL", "Thunderbird"])
def test_labels_from_first_token(system):
    _, csv, table, _ = _load(system)
    labels = table.column("label")
    assert labels.type == pa.int8() and labels.null_count == 0
    assert labels.to_pylist() == [int(v != "-") for v in csv["Label"]]
    if system == "BGL":
        assert pc.sum(labels).as_py() == 143


def test_other_systems_have_no_label():
    _, _, table, _ = _load("HDFS")
    assert table.column("label").null_count == table.num_rows


def test_hdfs_block_ids_are_every_blk_in_content():
    _, csv, table, _ = _load("HDFS")

    expected = [re.findall(r"blk_-?\d+", c) for c in csv["Content"]]
    assert table.column("block_ids").to_pylist() == expected
    assert any(len(ids) > 1 for ids in expected)


def test_openstack_instance_id_is_first_instance_uuid():
    _, csv, table, _ = _load("OpenStack")

    rx = re.compile(r"\[instance: ([0-9a-f-]{36})\]")
    expected = [m.group(1) if (m := rx.search(c)) else None for c in csv["Content"]]
    assert table.column("instance_id").to_pylist() == expected
    assert sum(v is not None for v in expected) > 0
