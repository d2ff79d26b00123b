"""Small events tables with the ingest schema, for parse tests (no ingest needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from logad.schema import EVENTS_SCHEMA, ORDER_FILE_SHIFT

__all__ = ["events_table", "write_events_dir", "HDFS_LINES"]

HDFS_LINES = [
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "BLOCK* NameSystem.allocateBlock: /mnt/hadoop/mapred/system/job_200811092030_0001/job.jar. blk_-1608999687919862906",
    "Receiving block blk_-1608999687919862906 src: /10.250.10.6:40524 dest: /10.250.10.6:50010",
    "PacketResponder 1 for block blk_-1608999687919862906 terminating",
    "Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6",
    "PacketResponder 2 for block blk_-1608999687919862906 terminating",
    "Receiving block blk_7503483334202473044 src: /10.251.215.16:55695 dest: /10.251.215.16:50010",
    "Received block blk_7503483334202473044 of size 233217 from /10.250.19.102",
    "BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.215.16:50010 is added to blk_7503483334202473044 size 233217",
    "Verification succeeded for blk_-1608999687919862906",
]


def events_table(contents: Sequence[str | None], *, path: str = "a.log", file_index: int = 0,
                 source: str = "HDFS") -> pa.Table:
    n = len(contents)
    line_no = list(range(1, n + 1))
    return pa.table({
        "source": [source] * n, "path": [path] * n,
        "line_no": pa.array(line_no, pa.int64()),
        "order": pa.array([(file_index << ORDER_FILE_SHIFT) + i for i in line_no], pa.int64()),
        "timestamp": pa.nulls(n, pa.timestamp("us")), "level": ["INFO"] * n,
        "component": ["dfs"] * n, "content": pa.array(list(contents), pa.string()),
        "raw": [c if c is not None else "\x00garbage" for c in contents],
        "matched": [c is not None for c in contents], "label": pa.nulls(n, pa.int8()),
    }, schema=EVENTS_SCHEMA)


def write_events_dir(root: Path, tables: Sequence[pa.Table], preset: str | None = "HDFS",
                     row_group_size: int | None = None) -> Path:
    """Write ``tables`` as ``root/events/part-NNNNNN.parquet`` + ``root/manifest.json``."""
    (root / "events").mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(tables):
        pq.write_table(t, root / "events" / f"part-{i:06d}.parquet", row_group_size=row_group_size)
    parts = [{"file": f"events/part-{i:06d}.parquet", "rows": t.num_rows} for i, t in enumerate(tables)]
    (root / "manifest.json").write_text(json.dumps({"stage": "ingest", "status": "complete",
                                                    "preset": preset, "parts": parts}))
    return root
