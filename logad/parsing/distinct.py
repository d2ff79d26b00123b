"""Per-block table functions of the parse stage: reject, mask, distinct, merge, join back.

The parse stage never feeds every line to Drain. Each block masks its lines and keeps its
*distinct* masked messages with the first occurrence (smallest global ``order``) and the number
of lines; the union of those small tables, sorted by first occurrence, is mined once; the
resulting ``masked -> template_id`` table is joined back onto every line. Mining the distinct
messages in order of first occurrence is what one sequential Drain would see if it skipped
repeats, so the result does not depend on how the input was split.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from logad.errors import LogadError
from logad.parsing.masking import MaskPass, mask_array
from logad.schema import REJECTED_SCHEMA, UNKNOWN_TEMPLATE_ID, require_columns

__all__ = ["MASKED", "DISTINCT_SCHEMA", "MAPPING_SCHEMA", "COUNTS_SCHEMA", "split_rejected",
           "mask_block", "distinct_block", "file_counts", "DistinctTable", "assign_ids",
           "SUMMARY_SCHEMA", "block_summary", "split_summary", "drop_rejected"]

#: Name of the temporary masked-message column (dropped before output).
MASKED = "_masked"
DISTINCT_SCHEMA = pa.schema([("masked", pa.string()), ("first_order", pa.int64()),
                             ("lines", pa.int64())])
MAPPING_SCHEMA = pa.schema([("masked", pa.string()), ("template_id", pa.string())])
COUNTS_SCHEMA = pa.schema([("path", pa.string()), ("read", pa.int64()), ("rejected", pa.int64())])

_REQUIRED = ("path", "line_no", "order", "content", "raw")

def split_rejected(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split lines that cannot be parsed (null ``content``) from the others.

    Returns
    -------
    ok : pa.Table
        Rows with content, all columns kept.
    rejected : pa.Table
        ``REJECTED_SCHEMA`` rows (path, line_no, reason, raw).
    """
    require_columns(table, _REQUIRED, "parse input (events)")
    bad = pc.is_null(table.column("content"))
    n_bad = pc.sum(bad).as_py() or 0
    if n_bad == 0:
        return table, REJECTED_SCHEMA.empty_table()
    rej = table.filter(bad)
    rejected = pa.table({"path": rej.column("path").cast(pa.string()),
                         "line_no": rej.column("line_no").cast(pa.int64()),
                         "reason": pa.array(["null content"] * rej.num_rows, pa.string()),
                         "raw": rej.column("raw").cast(pa.string())}, schema=REJECTED_SCHEMA)
    return table.filter(pc.invert(bad)), rejected


def drop_rejected(table: pa.Table) -> pa.Table:
    """The rows :func:`split_rejected` keeps (content not null)."""
    content = table.column("content")
    return table if content.null_count == 0 else table.filter(pc.is_valid(content))


def mask_block(table: pa.Table, passes: Sequence[MaskPass]) -> pa.Table:
    """Append the masked ``content`` as column ``MASKED`` (rows with null content stay null)."""
    masked = mask_array(table.column("content"), passes)
    return table.append_column(MASKED, masked)


def distinct_block(table: pa.Table) -> pa.Table:
    """Distinct masked messages of one block: ``masked, first_order, lines`` (unsorted)."""
    sub = pa.table({"masked": table.column(MASKED), "order": table.column("order")})
    sub = sub.filter(pc.is_valid(sub.column("masked")))
    g = sub.group_by("masked", use_threads=False).aggregate([("order", "min"), ("order", "count")])
    return pa.table({"masked": g.column("masked").cast(pa.string()),
                     "first_order": g.column("order_min").cast(pa.int64()),
                     "lines": g.column("order_count").cast(pa.int64())}, schema=DISTINCT_SCHEMA)


def file_counts(table: pa.Table) -> pa.Table:
    """Lines read and rejected (null content) per file of one block: ``COUNTS_SCHEMA``."""
    sub = pa.table({"path": table.column("path"),
                    "bad": pc.cast(pc.is_null(table.column("content")), pa.int64())})
    g = sub.group_by("path", use_threads=False).aggregate([("bad", "count"), ("bad", "sum")])
    return pa.table({"path": g.column("path").cast(pa.string()),
                     "read": g.column("bad_count").cast(pa.int64()),
                     "rejected": g.column("bad_sum").cast(pa.int64())}, schema=COUNTS_SCHEMA)


class DistinctTable:
    """The union of per-block distinct tables, held compact, with a cap.

    Parameters
    ----------
    max_distinct : int
        Largest number of distinct masked messages accepted. Going over it raises a
        :class:`LogadError` that names the setting (``max_distinct`` in configs/parse.yaml) and
        the masking fix, instead of growing without bound.
    compact_every : int, default 1_000_000
        Pending rows that trigger a merge of the parts received so far.
    """

    def __init__(self, max_distinct: int, compact_every: int = 1_000_000) -> None:
        self.max_distinct = int(max_distinct)
        self.compact_every = int(compact_every)
        self._parts: list[pa.Table] = []
        self._pending = 0

    def add(self, part: pa.Table) -> None:
        """Add one block's distinct table; merges and checks the cap now and then."""
        if part.num_rows == 0:
            return
        self._parts.append(part.select(DISTINCT_SCHEMA.names).cast(DISTINCT_SCHEMA))
        self._pending += part.num_rows
        if self._pending >= max(self.compact_every, self.max_distinct):
            self._compact()

    def _compact(self) -> None:
        t = pa.concat_tables(self._parts) if self._parts else DISTINCT_SCHEMA.empty_table()
        if len(self._parts) > 1:
            g = t.group_by("masked", use_threads=False).aggregate(
                [("first_order", "min"), ("lines", "sum")])
            t = pa.table({"masked": g.column("masked"),
                          "first_order": g.column("first_order_min"),
                          "lines": g.column("lines_sum")}, schema=DISTINCT_SCHEMA)
        self._parts = [t]
        self._pending = 0
        if t.num_rows > self.max_distinct:
            raise LogadError(
                f"more than {self.max_distinct:,} distinct masked messages: raise max_distinct "
                "in configs/parse.yaml (or `logad parse --max-distinct N`), or add masking rules for the "
                "variable parts that are left (see `logad parse --help`)")

    def result(self) -> pa.Table:
        """All distinct messages, sorted by first occurrence (ties by text, for stability)."""
        self._compact()
        t = self._parts[0]
        idx = pc.sort_indices(t, sort_keys=[("first_order", "ascending"), ("masked", "ascending")])
        return t.take(idx)


def assign_ids(table: pa.Table, lookup: Mapping[str, str], *,
               unknown: str = UNKNOWN_TEMPLATE_ID) -> pa.Table:
    """Replace the ``MASKED`` column by ``template_id`` looked up in ``lookup``.

    Parameters
    ----------
    table : pa.Table
        A block with the ``MASKED`` column (see :func:`mask_block`).
    lookup : mapping
        ``masked message -> template id`` (built once per worker from the mined mapping).
    unknown : str
        Id for messages missing from ``lookup`` (``--match-only`` misses).

    Notes
    -----
    Only the block's distinct messages are looked up (dictionary-encode, look up the
    dictionary, take), so the cost per line is one hash and one take.
    """
    masked = table.column(MASKED)
    if isinstance(masked, pa.ChunkedArray):
        masked = masked.combine_chunks() if masked.num_chunks != 1 else masked.chunk(0)
    enc = pc.dictionary_encode(masked)
    get = lookup.get
    ids = pa.array([get(m, unknown) for m in enc.dictionary.to_pylist()], pa.string())
    out_ids = pc.fill_null(pc.take(ids, enc.indices), unknown)
    out = table.drop_columns([MASKED])
    if "template_id" in out.column_names:
        out = out.drop_columns(["template_id"])
    return out.append_column("template_id", out_ids)


#: One table per block from the summary pass: rows of ``kind`` "distinct" (masked, first_order,
#: lines), "file" (path, read, rejected) and "rejected" (path, line_no, reason, raw).
SUMMARY_SCHEMA = pa.schema([("kind", pa.string()), ("masked", pa.string()),
                            ("first_order", pa.int64()), ("lines", pa.int64()),
                            ("path", pa.string()), ("read", pa.int64()), ("rejected", pa.int64()),
                            ("line_no", pa.int64()), ("reason", pa.string()), ("raw", pa.string())])


def block_summary(table: pa.Table) -> pa.Table:
    """Everything the driver needs from one masked block, as one small ``SUMMARY_SCHEMA`` table.

    The block must carry the ``MASKED`` column (:func:`mask_block`); its size is that of the
    block's distinct messages plus its files plus its rejected lines, not of its lines.
    """
    parts = []
    d = distinct_block(table)
    if d.num_rows:
        parts.append(_as_summary("distinct", d))
    parts.append(_as_summary("file", file_counts(table)))
    _, rej = split_rejected(table.drop_columns([MASKED]) if MASKED in table.column_names else table)
    if rej.num_rows:
        parts.append(_as_summary("rejected", rej))
    return pa.concat_tables(parts)


def _as_summary(kind: str, t: pa.Table) -> pa.Table:
    n = t.num_rows
    cols = {"kind": pa.array([kind] * n, pa.string())}
    for f in SUMMARY_SCHEMA:
        if f.name != "kind":
            cols[f.name] = t.column(f.name).cast(f.type) if f.name in t.column_names \
                else pa.nulls(n, f.type)
    return pa.table(cols, schema=SUMMARY_SCHEMA)


def split_summary(summary: pa.Table) -> dict[str, pa.Table]:
    """Split a (concatenated) summary table back into its ``distinct``, ``file`` and
    ``rejected`` parts with their own schemas."""
    kind = summary.column("kind")
    out = {}
    for name, schema in (("distinct", DISTINCT_SCHEMA), ("file", COUNTS_SCHEMA),
                         ("rejected", REJECTED_SCHEMA)):
        part = summary.filter(pc.equal(kind, name))
        out[name] = part.select(schema.names).cast(schema)
    return out
