"""Turn one work unit into ``events`` tables: read, structure, label. Pure: no Ray, no writes.

:func:`unit_events` is what a Ray worker runs for each unit; the runner writes what it yields.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from logad.schema import EVENTS_SCHEMA, ORDER_FILE_SHIFT, REJECTED_SCHEMA
from logad.sources.files import WorkUnit
from logad.sources.labels import LabelSpec, apply_labels
from logad.sources.presets import Preset, structure_lines
from logad.sources.reader import EntryBatch, UnitStats, iter_entries

__all__ = ["UnitResult", "events_table", "unit_events", "rejected_table"]


@dataclass
class UnitResult:
    """Counts of one unit, as they go into the manifest."""

    unit: int
    path: str
    lines_read: int = 0
    parsed: int = 0
    rejected: int = 0
    events: int = 0
    unmatched: int = 0
    bad_utf8: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None
    stalled: bool = False  # the source stopped sending: a re-run reads the unit again
    keys: list[str] = field(default_factory=list)  # distinct instance ids (for labels.parquet)
    rejects: pa.Table | None = None                 # rejected lines with their reasons


def _constant(value: object, n: int, type_: pa.DataType) -> pa.Array:
    """``n`` times ``value``: ``pa.array([value] * n)`` without the Python list (a 100k-line
    batch's ``source`` and ``path`` cost 10-20 ms each that way)."""
    return pa.repeat(pa.scalar(value, type_), n)


def events_table(batch: EntryBatch, unit: WorkUnit, preset: Preset, *, source: str,
                 file_columns: Mapping[str, object] | None = None,
                 labels: LabelSpec | None = None) -> pa.Table:
    """Build the events table of one batch of entries: canonical columns, then preset columns.

    ``file_columns`` are constant per file (LO2: run, test_case, service, label).
    """
    st = structure_lines(batch.raw, preset)
    n = st.num_rows
    base = unit.file_index << ORDER_FILE_SHIFT
    line_no = pa.array(batch.line_no, pa.int64())
    cols: dict[str, pa.Array] = {
        "source": _constant(source, n, pa.string()),
        "path": _constant(unit.file.display, n, pa.string()),
        "line_no": line_no,
        "order": pc.add(line_no, base),
        "timestamp": st.column("timestamp"),
        "level": st.column("level"),
        "component": st.column("component"),
        "content": st.column("content"),
        "raw": batch.raw,
        "matched": st.column("matched"),
        "label": st.column("label"),
    }
    col_of = dict(zip(preset.pattern.fields, preset.columns))
    mapped = {col_of.get(f) for f in preset.fields.values() if f}  # already level/component/content
    extra = {name: st.column(name) for name in st.column_names
             if name not in cols and name not in mapped}
    for name, value in (file_columns or {}).items():
        if name == "label":
            cols["label"] = _constant(value, n, pa.int8())
        else:
            extra[name] = _constant(value, n, pa.string())
    fields = list(EVENTS_SCHEMA) + [pa.field(k, v.type) for k, v in extra.items()]
    table = pa.Table.from_arrays([*cols.values(), *extra.values()], schema=pa.schema(fields))
    return apply_labels(table, labels, unit.file.display)


def rejected_table(unit: WorkUnit, stats: UnitStats) -> pa.Table:
    rows = stats.rejects
    return pa.table({"path": [unit.file.display] * len(rows),
                     "line_no": [r[0] for r in rows], "reason": [r[1] for r in rows],
                     "raw": [r[2] for r in rows]}, schema=REJECTED_SCHEMA)


def unit_events(unit: WorkUnit, preset: Preset, result: UnitResult, *, source: str,
                file_columns: Mapping[str, object] | None = None, labels: LabelSpec | None = None,
                max_line_bytes: int = 1 << 20, batch_lines: int = 200_000,
                read_timeout_s: float | None = None) -> Iterator[pa.Table]:
    """Yield events tables for ``unit`` and fill ``result`` (counts, error, distinct keys);
    ``read_timeout_s`` bounds each wait on a remote source (:func:`~logad.sources.reader.iter_entries`)."""
    t0 = time.perf_counter()
    stats = UnitStats()
    keys: set[str] = set()
    if unit.file.error:
        result.error = f"{unit.file.display}: {unit.file.error}"
        return
    for batch in iter_entries(unit, stats, entry_start=preset.entry_start,
                              max_line_bytes=max_line_bytes, batch_lines=batch_lines,
                              read_timeout_s=read_timeout_s):
        table = events_table(batch, unit, preset, source=source, file_columns=file_columns,
                             labels=labels)
        result.events += table.num_rows
        result.unmatched += table.num_rows - pc.sum(table.column("matched")).as_py() \
            if table.num_rows else 0
        if labels is not None and labels.kind == "instances":
            keys.update(k for k in pc.unique(table.column("instance_id")).to_pylist() if k)
        yield table
    result.lines_read = stats.lines_read
    result.parsed = stats.lines_in_entries
    result.rejected = stats.rejected
    result.bad_utf8 = stats.bad_utf8
    result.bytes = stats.bytes
    result.error = stats.error
    result.stalled = stats.stalled
    result.keys = sorted(keys)
    result.seconds = round(time.perf_counter() - t0, 4)
    result.rejects = rejected_table(unit, stats)
