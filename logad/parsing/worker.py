"""The workers of ``logad parse``: what one Ray actor does with its units of input (no Ray here).

A unit is one row group of one ``part-*.parquet`` of ingest's events
(:meth:`logad.io.StageFolder.units`). Pass 1 (:meth:`ParseWorker.summarize`, step 1 of
:mod:`logad.parsing.steps`) reads each unit batch by batch (``raw`` only for batches with
rejected lines), masks it and summarises it into distinct masked messages with their first
occurrence, per-file counts and rejected lines; it spills each unit's masked column to
``<spill_dir>/unit-<unit>.parquet`` (dictionary-encoded, one row group per batch, a few bytes a
line) so pass 2 need not mask again. Pass 2 (:meth:`ParseWorker.assign`) reads each unit again
with its spill (or masks again when the spill is missing or does not line up: same result), puts
the template ids on every line and writes ``part-<unit>.parquet``. A worker holds one batch of
input at a time plus the ``masked -> template_id`` mapping.

Units are read with pyarrow inside the workers rather than with ``ray.data.read_parquet``: in
Ray 2.60 its reader held about 1 GB per worker on a 2M-line input (it grew with the input),
while a row group read batch by batch keeps a worker's memory flat. Nothing here imports Ray.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad.io import ParquetSettings, atomic_path, join, open_parquet
from logad.parsing.distinct import MASKED, SUMMARY_SCHEMA
from logad.parsing.masking import MaskPass
from logad.parsing.steps import assign_block, summarize_block

__all__ = ["ParseWorker"]


def _read_unit(unit: dict, batch_size: int, columns: Sequence[str] | None = None
               ) -> Iterator[pa.Table]:
    """Batches of one unit; a worker never holds more than one batch of input. One thread:
    a worker has one CPU, and pyarrow's decoding threads only add CPU time there."""
    pf = open_parquet(unit["file"])
    for rb in pf.iter_batches(batch_size=batch_size, row_groups=[int(unit["row_group"])],
                              columns=list(columns) if columns else None, use_threads=False):
        yield pa.Table.from_batches([rb])


#: Columns pass 1 reads (``raw`` only for batches with rejected lines, see _summary_batches).
_SUMMARY_COLUMNS = ("path", "line_no", "order", "content")


def _summary_batches(unit: dict, batch_size: int) -> Iterator[pa.Table]:
    """The unit's batches with the columns pass 1 needs; ``raw`` (as big as ``content``) is read
    only for a batch that has lines without content (they go to rejected.parquet)."""
    offset, raw = 0, None
    for t in _read_unit(unit, batch_size, _SUMMARY_COLUMNS):
        if t.column("content").null_count:
            if raw is None:
                raw = open_parquet(unit["file"]).read_row_group(
                    int(unit["row_group"]), columns=["raw"], use_threads=False).column("raw")
            t = t.append_column("raw", raw.slice(offset, t.num_rows))
        else:
            t = t.append_column("raw", pa.nulls(t.num_rows, pa.string()))
        offset += t.num_rows
        yield t


def _spill_path(spill_dir: str, unit: dict) -> Path:
    return Path(spill_dir) / f"unit-{int(unit['index']):06d}.parquet"


def _summarize_units(units: Sequence[dict], passes: Sequence[MaskPass], batch_size: int,
                     spill_dir: str | None = None) -> pa.Table:
    """Read, mask and summarise (distinct, file counts, rejected) every unit of ``units``;
    with ``spill_dir``, also write each unit's masked column there (see the module docstring)."""
    parts = []
    for unit in units:
        writer, spill = None, _spill_path(spill_dir, unit) if spill_dir else None
        tmp = spill.with_name(f".{spill.name}.{os.getpid()}.tmp") if spill else None
        try:
            for t in _summary_batches(unit, batch_size):
                masked, summary = summarize_block(t, passes)
                parts.append(summary)
                if tmp is not None:
                    col = pa.table({MASKED: pc.dictionary_encode(masked.column(MASKED))})
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, col.schema, compression="none")
                    writer.write_table(col)
            if writer is not None:
                writer.close()
                os.replace(tmp, spill)  # a retried task never leaves half a spill
        finally:
            if tmp is not None and tmp.exists():
                tmp.unlink()
    return pa.concat_tables(parts) if parts else SUMMARY_SCHEMA.empty_table()


def _spilled_batches(unit: dict, spill_dir: str | None, batch_size: int
                     ) -> Iterator[tuple[pa.Table, pa.ChunkedArray | None]]:
    """The unit's input batches, each with its spilled masked column (None: mask again)."""
    spill = _spill_path(spill_dir, unit) if spill_dir else None
    pf = pq.ParquetFile(spill) if spill is not None and spill.is_file() else None
    for i, batch in enumerate(_read_unit(unit, batch_size)):
        masked = None
        if pf is not None and i < pf.metadata.num_row_groups:
            masked = pf.read_row_group(i).column(MASKED)
            if len(masked) != batch.num_rows:
                masked = None
        yield batch, masked


def _assign_and_write(units: Sequence[dict], lookup: dict, out_dir: str | Path,
                      passes: Sequence[MaskPass], batch_size: int, parquet: ParquetSettings,
                      spill_dir: str | None) -> pa.Table:
    """Join: read each unit again with its spilled masked column (or mask it again), attach the
    ids and write ``part-<unit>.parquet`` batch by batch (the name depends on the input only,
    never on workers, blocks or retries). Returns ``file, rows`` of the parts written."""
    files, rows = [], []
    for unit in units:
        name, n, writer = f"part-{int(unit['index']):06d}.parquet", 0, None
        with atomic_path(join(out_dir, name)) as tmp:
            for batch, masked in _spilled_batches(unit, spill_dir, batch_size):
                table = assign_block(batch, lookup, passes, masked)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema,
                                                      **parquet.writer_options(table.schema))
                writer.write_table(table)
                n += table.num_rows
            if writer is not None:
                writer.close()
            else:
                tmp.unlink()
        if n:
            files.append(name)
            rows.append(n)
    return pa.table({"file": pa.array(files, pa.string()), "rows": pa.array(rows, pa.int64())})


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class ParseWorker:
    """One worker of a run (a Ray actor, one CPU): pass 1 (:meth:`summarize`), then, once it
    holds the mapping (:meth:`set_mapping`, built into a dict once per worker), pass 2
    (:meth:`assign`). Holds one batch of input at a time plus the mapping."""

    def __init__(self, passes: Sequence[MaskPass], batch_size: int, spill_dir: str | None,
                 parquet: ParquetSettings) -> None:
        self.passes, self.batch_size, self.spill_dir = passes, batch_size, spill_dir
        self.parquet = parquet
        self.lookup: dict = {}
        self.out_dir = Path(".")
        self.start_rss_mb = _peak_rss_mb()

    def ready(self) -> bool:
        return True

    def summarize(self, units: list[dict]) -> pa.Table:
        return _summarize_units(units, self.passes, self.batch_size, self.spill_dir)

    def set_mapping(self, mapping: pa.Table, out_dir: str) -> int:
        self.lookup = dict(zip(mapping.column("masked").to_pylist(),
                               mapping.column("template_id").to_pylist()))
        self.out_dir = out_dir  # a local folder or an object-storage URL
        return len(self.lookup)

    def assign(self, units: list[dict]) -> pa.Table:
        return _assign_and_write(units, self.lookup, self.out_dir, self.passes, self.batch_size,
                                 self.parquet, self.spill_dir)

    def memory(self) -> dict:
        """Peak resident memory (MB) once started and now, at the end of its work: the
        difference is what its work took (one batch, the mapping), whatever the input size."""
        return {"start_rss_mb": self.start_rss_mb, "peak_rss_mb": _peak_rss_mb()}
