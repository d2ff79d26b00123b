"""The work of ``logad score`` as one plain class, run as Ray actors or in this process.

:class:`ScoreWorker` loads every model once and takes work units: a :class:`ScoreUnit` (row
groups of one ``sequences`` file) is read with the columns the models need, scored, and written
as one staged part named by its unit (so names never depend on the workers); only a small
summary per model (rows, flagged, unknowns, a quantile sketch of the scores) goes back. The
rank pass then takes score buckets (:class:`RankBucket`): count the rows of a bucket, or sort
them, number them and write the final part. No Ray import here: :class:`logad.ray.workers.Workers`
runs the same methods on actors or locally, so both give the same folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad.models.trained import TrainedModel
from logad.scoring.parts import (PARTS_SCHEMA, add_ranks, model_version, score_models_batch,
                                 sort_for_rank, write_part)

__all__ = ["ScoreUnit", "RankBucket", "ScoreWorker", "score_units", "columns_to_read",
           "summarize", "SKETCH_POINTS"]

#: Quantile points each part reports for its scores (to cut the rank buckets).
SKETCH_POINTS = 33
#: Columns scoring reads besides the featurizers' own (``refs``: the line a score points at).
_ALWAYS = ("session_id", "label", "split", "event_ids", "refs")


@dataclass(frozen=True)
class ScoreUnit:
    """Row groups ``row_groups`` of ``path``, staged as ``part``."""

    path: str
    row_groups: tuple[int, ...]
    part: str


@dataclass(frozen=True)
class RankBucket:
    """One model's rows with ``lo < score <= hi``; ranks from ``start + 1``; written to ``out``."""

    model: str
    lo: float
    hi: float
    start: int = 0
    out: str = ""


def score_units(files: Sequence[str], rows_per_unit: int) -> list[ScoreUnit]:
    """Cut ``files`` into units of whole row groups, about ``rows_per_unit`` rows each.

    The cut depends on the files' metadata only, so the staged parts are the same for any
    number of workers.
    """
    units = []
    for path in files:
        md = pq.ParquetFile(path).metadata
        group: list[int] = []
        rows = 0
        for rg in range(md.num_row_groups):
            group.append(rg)
            rows += md.row_group(rg).num_rows
            if rows >= rows_per_unit:
                units.append(_unit(path, group))
                group, rows = [], 0
        if group:
            units.append(_unit(path, group))
    return units


def _unit(path: str, row_groups: list[int]) -> ScoreUnit:
    doc = f"{Path(path).name}\x00{','.join(map(str, row_groups))}"
    return ScoreUnit(str(path), tuple(row_groups),
                     f"part-{hashlib.blake2b(doc.encode(), digest_size=8).hexdigest()}.parquet")


def columns_to_read(models: Sequence[TrainedModel], available: Sequence[str]) -> list[str] | None:
    """The ``sequences`` columns the models need (None: all)."""
    want = list(_ALWAYS)
    for m in models:
        for f in m.featurizers:
            cols = f.input_columns()
            if cols is None:
                return None
            want += cols
    return [c for c in dict.fromkeys(want) if c in available]


def summarize(rows: pa.Table, part: str) -> list[dict[str, Any]]:
    """One dict per model of a written part: rows, flagged, unknown tokens, score quantiles."""
    out = []
    models = rows.column("model").to_numpy(zero_copy_only=False)
    score = rows.column("score").to_numpy()
    flag = rows.column("is_anomaly").to_numpy()
    unk = rows.column("n_unknown").to_numpy()
    for name in dict.fromkeys(models.tolist()):
        m = models == name
        out.append({"part": part, "model": name, "rows": int(m.sum()), "flagged": int(flag[m].sum()),
                    "unknown": int(unk[m].sum()),
                    "quantiles": np.quantile(score[m], np.linspace(0, 1, SKETCH_POINTS)).tolist()})
    return out


class ScoreWorker:
    """Scores units into ``staging`` and ranks buckets of the staged parts."""

    def __init__(self, model_dirs: Sequence[str], staging: str, split: str | None = None,
                 columns: Sequence[str] | None = None) -> None:
        self.models = [(TrainedModel.load(d), model_version(d)) for d in model_dirs]
        self.staging = Path(staging)
        self.split = split
        self.columns = None if columns is None else list(columns)

    def score(self, unit: ScoreUnit) -> list[dict[str, Any]]:
        """Score one unit, write its staged part; the part's per-model summary."""
        batch = pq.ParquetFile(unit.path).read_row_groups(list(unit.row_groups), columns=self.columns,
                                                          use_threads=False)
        if self.split:
            batch = batch.filter(pc.equal(batch.column("split"), self.split).fill_null(False))
        if batch.num_rows == 0:
            return []
        rows = score_models_batch(self.models, batch)
        write_part(rows, self.staging / unit.part)
        return summarize(rows, unit.part)

    def _bucket_rows(self, bucket: RankBucket) -> Any:
        import pyarrow.dataset as pads

        staged = sorted(str(p) for p in self.staging.glob("part-*.parquet"))
        f = pads.field
        flt = (f("model") == bucket.model) & (f("score") > bucket.lo) & (f("score") <= bucket.hi)
        return pads.dataset(staged, format="parquet"), flt

    def count(self, bucket: RankBucket) -> int:
        """Rows of the staged parts in ``bucket``."""
        ds, flt = self._bucket_rows(bucket)
        return ds.count_rows(filter=flt)

    def rank(self, bucket: RankBucket) -> int:
        """Sort the bucket's rows (score descending, session id), number them from
        ``bucket.start + 1`` and write them to ``bucket.out``; the rows written."""
        ds, flt = self._bucket_rows(bucket)
        t = ds.to_table(filter=flt)
        if t.num_rows == 0:
            return 0
        ranked, _ = add_ranks(sort_for_rank(t), {bucket.model: bucket.start})
        write_part(ranked.cast(PARTS_SCHEMA), bucket.out)
        return ranked.num_rows
