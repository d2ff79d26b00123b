"""The parse stage as four steps, composed once for one process and once for many workers.

1. :func:`summarize_block` (a worker, per block): mask the block and summarise it (distinct
   masked messages with their first occurrence, per-file counts, rejected lines).
2. :class:`SummaryFold` (the driver): fold the summaries into the union of distinct messages,
   the per-file counts and the rejected lines, under the ``max_distinct`` cap.
3. :func:`mine` (the driver): the one sequential step, Drain over the distinct messages, and
   the templates table.
4. :func:`assign_block` (a worker, per block): template ids onto the block's parseable lines.

:func:`logad.parsing.templates.parse_blocks` runs them in this process (tests, benchmarks,
small inputs); :mod:`logad.ray.parse` runs 1 and 4 on Ray actors
(:class:`logad.parsing.worker.ParseWorker`) and 2 and 3 on the driver. Both take their
defaults from here (:data:`MAX_DISTINCT`, :data:`FULL_SEARCH`), so the two give the same ids.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pyarrow as pa

from logad.parsing.distinct import (MASKED, DistinctTable, assign_ids, block_summary, drop_rejected,
                                    mask_block, split_summary)
from logad.parsing.masking import MaskPass
from logad.parsing.miner import TemplateMiner
from logad.parsing.templates import MineResult, mine_distinct, templates_table
from logad.schema import REJECTED_SCHEMA, UNKNOWN_TEMPLATE_ID

__all__ = ["MAX_DISTINCT", "FULL_SEARCH", "summarize_block", "SummaryFold", "mine",
           "assign_block", "parse_blocks"]

#: Distinct masked messages a run may hold (the ``max_distinct`` setting).
MAX_DISTINCT = 5_000_000
#: How a match-only run searches for a line's template (``match_full_search``).
FULL_SEARCH = "fallback"


def summarize_block(block: pa.Table, passes: Sequence[MaskPass]) -> tuple[pa.Table, pa.Table]:
    """Step 1: the block with its ``MASKED`` column, and its summary
    (:data:`~logad.parsing.distinct.SUMMARY_SCHEMA`)."""
    masked = mask_block(block, passes)
    return masked, block_summary(masked)


class SummaryFold:
    """Step 2: pass-1 summaries folded as they arrive (in input order).

    ``distinct()`` is the union of distinct messages (:class:`DistinctTable`, capped at
    ``max_distinct``), ``counts`` the per-file count tables, ``rejected()`` every rejected line.
    """

    def __init__(self, max_distinct: int = MAX_DISTINCT) -> None:
        self._acc = DistinctTable(int(max_distinct))
        self.counts: list[pa.Table] = []
        self._rejected: list[pa.Table] = []

    def add(self, summary: pa.Table) -> None:
        parts = split_summary(summary)
        self._acc.add(parts["distinct"])
        self.counts.append(parts["file"])
        if parts["rejected"].num_rows:
            self._rejected.append(parts["rejected"])

    def distinct(self) -> pa.Table:
        return self._acc.result()

    def rejected(self) -> pa.Table:
        return pa.concat_tables(self._rejected) if self._rejected else REJECTED_SCHEMA.empty_table()


def mine(miner: TemplateMiner, distinct: pa.Table, *, match_only: bool = False,
         full_search: str = FULL_SEARCH) -> tuple[MineResult, pa.Table]:
    """Step 3: mine (or only match) the distinct messages; the result and the templates table."""
    result = mine_distinct(miner, distinct, match_only=match_only, full_search=full_search)
    return result, templates_table(miner, distinct, result)


def assign_block(block: pa.Table, lookup: Mapping[str, str], passes: Sequence[MaskPass],
                 masked: pa.ChunkedArray | pa.Array | None = None) -> pa.Table:
    """Step 4: the block's parseable lines with ``template_id`` (``lookup``: masked message ->
    id; a message not in it gets ``UNKNOWN_TEMPLATE_ID``). ``masked``: the block's masked
    column from step 1 (spilled, or kept), else the block is masked again (same result)."""
    if masked is None:
        table = mask_block(drop_rejected(block), passes)
    else:
        table = drop_rejected(block.append_column(MASKED, masked))
    return assign_ids(table, lookup, unknown=UNKNOWN_TEMPLATE_ID)


def parse_blocks(blocks: Iterable[pa.Table], passes: Sequence[MaskPass], miner: TemplateMiner, *,
                 match_only: bool = False, max_distinct: int = MAX_DISTINCT,
                 full_search: str = FULL_SEARCH
                 ) -> tuple[list[pa.Table], pa.Table, pa.Table, MineResult]:
    """The whole parse stage in one process, block by block: the four steps, as the runner
    runs them (same functions, same defaults, same ids).

    Returns
    -------
    parsed : list of pa.Table
        Each block's parseable events with ``template_id``, in input order.
    rejected : pa.Table
        ``REJECTED_SCHEMA`` rows of every block.
    templates : pa.Table
        ``TEMPLATES_SCHEMA``.
    result : MineResult
    """
    fold, kept = SummaryFold(max_distinct), []
    for block in blocks:
        masked, summary = summarize_block(block, passes)
        fold.add(summary)
        kept.append((block, masked.column(MASKED)))
    result, templates = mine(miner, fold.distinct(), match_only=match_only,
                             full_search=full_search)
    lookup = dict(zip(result.mapping.column("masked").to_pylist(),
                      result.mapping.column("template_id").to_pylist()))
    parsed = [assign_block(block, lookup, passes, masked) for block, masked in kept]
    return parsed, fold.rejected(), templates, result
