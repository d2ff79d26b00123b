"""Small parsed-events tables for the sessions, features and runner tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from logad.io import part_entries, write_json

from logad.schema import EVENTS_SCHEMA

__all__ = ["T0", "ts", "make_events", "write_parsed"]

T0 = dt.datetime(2024, 1, 1, 0, 0, 0)


def ts(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else T0 + dt.timedelta(seconds=seconds)


def make_events(rows: Sequence[dict[str, Any]], *, extra: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Events table from dicts; missing columns get defaults, ``t`` is seconds after :data:`T0`.

    Defaults: source "S", path "f.log", line_no = 1-based row position, order = line_no,
    level "INFO", content "msg <line_no>", template_id "t<line_no % 3>", label null.
    """
    extra = dict(extra or {})
    cols: dict[str, list] = {f.name: [] for f in EVENTS_SCHEMA}
    cols["template_id"] = []
    for name in extra:
        cols[name] = []
    for i, r in enumerate(rows, start=1):
        line_no = r.get("line_no", i)
        cols["source"].append(r.get("source", "S"))
        cols["path"].append(r.get("path", "f.log"))
        cols["line_no"].append(line_no)
        cols["order"].append(r.get("order", line_no))
        cols["timestamp"].append(ts(r.get("t")))
        cols["level"].append(r.get("level", "INFO"))
        cols["component"].append(r.get("component", "c"))
        cols["content"].append(r.get("content", f"msg {line_no}"))
        cols["raw"].append(r.get("raw", f"raw {line_no}"))
        cols["matched"].append(True)
        cols["label"].append(r.get("label"))
        cols["template_id"].append(r.get("template_id", f"t{line_no % 3}"))
        for name in extra:
            cols[name].append(r.get(name))
    schema = pa.schema(list(EVENTS_SCHEMA) + [("template_id", pa.string())]
                       + [(k, v) for k, v in extra.items()])
    return pa.table(cols, schema=schema)


def write_parsed(table: pa.Table, folder: Path, n_parts: int = 3) -> Path:
    """``table`` as a finished ``logad parse`` output: ``n_parts`` parts and a complete manifest
    naming them (stages read nothing else)."""
    folder.mkdir(parents=True, exist_ok=True)
    step = max(1, -(-table.num_rows // n_parts))
    parts = []
    for k in range(n_parts):
        parts.append(folder / f"part-{k:05d}.parquet")
        pq.write_table(table.slice(k * step, step), parts[-1])
    write_json({"stage": "parse", "status": "complete", "parts": part_entries(folder, parts)},
               folder / "manifest.json")
    return folder
