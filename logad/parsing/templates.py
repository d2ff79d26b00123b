"""Mine the distinct masked messages once, and build the templates table.

:func:`mine_distinct` is the one sequential step of the parse stage: it feeds the union of
distinct masked messages, in order of first occurrence, to a
:class:`~logad.parsing.miner.TemplateMiner` and returns the ``masked -> template_id`` mapping.
:mod:`logad.parsing.steps` composes it with the other steps, in one process
(:func:`~logad.parsing.steps.parse_blocks`) and on many workers (:mod:`logad.ray.parse`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from logad.parsing.distinct import MAPPING_SCHEMA
from logad.parsing.miner import TemplateMiner, template_id
from logad.schema import UNKNOWN_TEMPLATE_ID

__all__ = ["TEMPLATES_SCHEMA", "MineResult", "mine_distinct", "templates_table"]

TEMPLATES_SCHEMA = pa.schema([
    ("template_id", pa.string()),
    ("template", pa.string()),
    ("count", pa.int64()),         # lines of this run
    ("first_seen", pa.int64()),    # smallest ``order`` of a line of this run (null: none)
    ("total_count", pa.int64()),   # lines over every run mined into the state
    ("new", pa.bool_()),           # id unknown to the state this run started from
])


@dataclass
class MineResult:
    """What :func:`mine_distinct` returns."""

    mapping: pa.Table                      # MAPPING_SCHEMA, one row per distinct message
    cluster_ids: list[int | None]          # per distinct row (None: unmatched in match-only)
    unmatched_lines: int = 0
    unmatched_messages: int = 0
    new_clusters: list[int] = field(default_factory=list)


def mine_distinct(miner: TemplateMiner, distinct: pa.Table, *, match_only: bool = False,
                  full_search: str = "fallback") -> MineResult:
    """Mine (or, with ``match_only``, only match) the distinct messages, in the table's order.

    Parameters
    ----------
    miner : TemplateMiner
        Mutated unless ``match_only``.
    distinct : pa.Table
        ``masked, first_order, lines`` sorted by ``first_order`` (``DistinctTable.result()``).
    match_only : bool
        Assign existing templates only; unmatched messages get ``UNKNOWN_TEMPLATE_ID``.
    full_search : {"never", "fallback", "always"}
        drain3's ``full_search_strategy`` for matching.
    """
    messages = distinct.column("masked").to_pylist()
    lines = distinct.column("lines").to_pylist()
    before = set(miner.cluster_ids)
    if match_only:
        cids = [miner.match(m, full_search) for m in messages]
    else:
        cids = miner.add_many(messages, lines, distinct.column("first_order").to_pylist())
    ids = miner.ids_for(cids, UNKNOWN_TEMPLATE_ID)
    mapping = pa.table({"masked": pa.array(messages, pa.string()),
                        "template_id": pa.array(ids, pa.string())}, schema=MAPPING_SCHEMA)
    missed = [i for i, c in enumerate(cids) if c is None]
    return MineResult(mapping=mapping, cluster_ids=cids,
                      unmatched_lines=sum(lines[i] for i in missed),
                      unmatched_messages=len(missed),
                      new_clusters=[c for c in miner.cluster_ids if c not in before])


def templates_table(miner: TemplateMiner, distinct: pa.Table, result: MineResult) -> pa.Table:
    """One row per template id known to ``miner`` (``TEMPLATES_SCHEMA``), sorted by id.

    Templates of a loaded state that no line of this run used have ``count`` 0 and a null
    ``first_seen``; identical template texts of different clusters are one row.
    """
    per_line = pa.table({"template_id": result.mapping.column("template_id"),
                         "lines": distinct.column("lines"),
                         "first_order": distinct.column("first_order")})
    g = per_line.group_by("template_id", use_threads=False).aggregate(
        [("lines", "sum"), ("first_order", "min")])
    run_count = dict(zip(g.column("template_id").to_pylist(), g.column("lines_sum").to_pylist()))
    run_first = dict(zip(g.column("template_id").to_pylist(),
                         g.column("first_order_min").to_pylist()))
    loaded = {template_id(i.loaded_template) for i in miner.info.values()
              if i.loaded_template is not None}
    rows: dict[str, dict] = {}
    for cid in miner.cluster_ids:
        tid = miner.template_id_of(cid)
        info = miner.info.get(cid)
        row = rows.setdefault(tid, {"template": miner.template(cid), "total": 0,
                                    "new": tid not in loaded})
        row["total"] += info.lines if info else miner.cluster(cid).size
    ids = sorted(rows)
    return pa.table({
        "template_id": ids,
        "template": [rows[t]["template"] for t in ids],
        "count": [int(run_count.get(t, 0)) for t in ids],
        "first_seen": [run_first.get(t) for t in ids],
        "total_count": [rows[t]["total"] for t in ids],
        "new": [rows[t]["new"] for t in ids],
    }, schema=TEMPLATES_SCHEMA)
