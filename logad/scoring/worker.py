"""The work of ``logad score`` as one plain class, run as Ray actors or in this process.

:class:`ScoreWorker` loads every model once and takes work units: a :class:`ScoreUnit` (row
groups of one ``sequences`` file) is read with the columns the models need, scored, sorted in
rank order and written as one staged part named by its unit (so names never depend on the
workers); only a small summary per model (rows, flagged, unknowns, where its rows start in the
part, and every :func:`~logad.scoring.rank.sample_step`-th key) goes back. The rank pass
(:mod:`logad.scoring.rank`) then splits each staged part along the cut keys into bucket
fragments (:class:`SplitJob`), cuts again a bucket that came out too large
(:meth:`ScoreWorker.refine`), and sorts, numbers and writes each bucket as a final part
(:class:`RankBucket`). No Ray import here: :class:`logad.ray.workers.Workers` runs the same
methods on actors or locally, so both give the same folder.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.io import as_folder, join, open_parquet
from logad.models.trained import TrainedModel
from logad.scoring.parts import (PARTS_SCHEMA, add_ranks, model_version, score_models_batch,
                                 sort_for_rank, write_part)
from logad.scoring.rank import (Key, exact_cuts, key_positions, read_staged, sample_keys,
                                sample_offset, sample_step, staged_files, write_staged)

__all__ = ["ScoreUnit", "SplitJob", "RankBucket", "ScoreWorker", "score_units", "columns_to_read",
           "summarize"]

#: Columns scoring reads besides the featurizers' own (``refs``: the line a score points at).
_ALWAYS = ("session_id", "label", "split", "event_ids", "refs")
#: The columns a cut is found in.
_KEY = ("score", "session_id")


@dataclass(frozen=True)
class ScoreUnit:
    """Row groups ``row_groups`` of ``path``, staged as ``part``."""

    path: str
    row_groups: tuple[int, ...]
    part: str


@dataclass(frozen=True)
class SplitJob:
    """Cut the rows of ``path`` (a staged part or a fragment, in rank order) along cut keys.

    ``pieces`` holds ``(model, first row, rows, cuts, folder prefix)``: that model's rows are
    rows ``first .. first + rows`` of the file; bucket ``k`` (after cut ``k - 1``, up to cut
    ``k``) goes to ``<prefix>-<k>/<file stem>.arrow``.
    """

    path: str
    pieces: tuple[tuple[str, int, int, tuple[Key, ...], str], ...]


@dataclass(frozen=True)
class RankBucket:
    """One model's bucket: the rows of ``slices`` (``(file, first row, rows)``) or of every
    fragment in ``folder``; ranks from ``start + 1``; written to ``out``."""

    model: str
    start: int = 0
    out: str = ""
    slices: tuple[tuple[str, int, int], ...] = ()
    folder: str = ""


def score_units(files: Sequence[str], rows_per_unit: int) -> list[ScoreUnit]:
    """Cut ``files`` into units of whole row groups, about ``rows_per_unit`` rows each.

    The cut depends on the files' metadata only, so the staged parts are the same for any
    number of workers.
    """
    units = []
    for path in files:
        md = open_parquet(path).metadata
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


def summarize(rows: pa.Table, part: str, step: int) -> list[dict[str, Any]]:
    """One dict per model of a staged part (rows in rank order): rows, flagged, unknown tokens,
    ``offset`` (its first row in the part) and ``keys`` (every ``step``-th key, from a start
    given by the part's name)."""
    out = []
    models = rows.column("model").to_numpy(zero_copy_only=False)
    score = rows.column("score").to_numpy()
    sid = rows.column("session_id").to_numpy(zero_copy_only=False)
    flag = rows.column("is_anomaly").to_numpy()
    unk = rows.column("n_unknown").to_numpy()
    for name in dict.fromkeys(models.tolist()):
        where = np.flatnonzero(models == name)
        a, b = int(where[0]), int(where[-1]) + 1  # contiguous: the part is sorted by model
        out.append({"part": part, "model": name, "rows": b - a, "offset": a,
                    "flagged": int(flag[a:b].sum()), "unknown": int(unk[a:b].sum()),
                    "keys": sample_keys(score[a:b], sid[a:b], step,
                                        sample_offset(f"{Path(part).name}\x00{name}", step))})
    return out


class ScoreWorker:
    """Scores units into ``staging`` and ranks buckets of the staged parts (buckets of about
    ``rows_per_bucket`` rows, sampled for from the first pass on)."""

    def __init__(self, models: Sequence[str | tuple[TrainedModel, str]], staging: str,
                 split: str | None = None, columns: Sequence[str] | None = None,
                 rows_per_bucket: int = 65536) -> None:
        # A model comes as its folder, or as the (model, version) pair the driver loaded: a
        # worker process then imports only what its estimator's classes need, not skops, whose
        # import walks every scikit-learn module (torch included): ~2 CPU s an actor.
        self.models = [m if isinstance(m, tuple) else (TrainedModel.load(m), model_version(m))
                       for m in models]
        self.staging = as_folder(staging)  # a local folder, or one on object storage
        self.split = split
        self.columns = None if columns is None else list(columns)
        self.rows_per_bucket = int(rows_per_bucket)
        self.step = sample_step(rows_per_bucket)
        self.ready_cpu_s = time.process_time()  # in an actor: its process's start-up, imports, models

    def ready_cpu(self) -> float:
        """CPU seconds this process had used when the worker was ready."""
        return self.ready_cpu_s

    def score(self, unit: ScoreUnit) -> list[dict[str, Any]]:
        """Score one unit, write its staged part in rank order; the part's per-model summary."""
        batch = open_parquet(unit.path).read_row_groups(list(unit.row_groups), columns=self.columns,
                                                          use_threads=False)
        if self.split:
            batch = batch.filter(pc.equal(batch.column("split"), self.split).fill_null(False))
        if batch.num_rows == 0:
            return []
        rows = sort_for_rank(score_models_batch(self.models, batch))
        write_staged(rows, join(self.staging, unit.part))
        return summarize(rows, str(join(self.staging, unit.part)), self.step)

    def split_part(self, job: SplitJob) -> list[list[int]]:
        """Write each piece's bucket fragments; the rows of every bucket, per piece."""
        table = read_staged(job.path)
        stem = Path(job.path).stem
        counts = []
        for model, first, rows, cuts, prefix in job.pieces:
            piece = table.slice(first, rows)
            score = piece.column("score").to_numpy()
            sid = piece.column("session_id").to_numpy(zero_copy_only=False)
            bounds = [0, *key_positions(score, sid, cuts).tolist(), rows]
            for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
                if b > a:
                    write_staged(piece.slice(a, b - a), join(as_folder(f"{prefix}-{k:06d}"), f"{stem}.arrow"))
            counts.append([b - a for a, b in zip(bounds[:-1], bounds[1:])])
        return counts

    def refine(self, bucket: RankBucket) -> list[tuple[str, int]]:
        """Cut an oversized bucket (a fragment folder) from all of its keys (two columns) into
        buckets of ``rows_per_bucket`` rows; the new buckets' folders and rows, in rank order."""
        files = staged_files(as_folder(bucket.folder))
        keys = [read_staged(f, _KEY) for f in files]
        allk = pa.concat_tables(keys)
        cuts = tuple(exact_cuts(allk.column("score").to_numpy(),
                                allk.column("session_id").to_numpy(zero_copy_only=False),
                                self.rows_per_bucket))
        del allk, keys
        prefix = str(as_folder(bucket.folder)) + "-r"
        total = np.zeros(len(cuts) + 1, dtype=np.int64)
        for f in files:
            rows = read_staged(f, _KEY).num_rows
            total += np.asarray(self.split_part(SplitJob(str(f), ((bucket.model, 0, rows, cuts,
                                                                    prefix),)))[0])
        return [(f"{prefix}-{k:06d}", int(n)) for k, n in enumerate(total.tolist()) if n]

    def rank(self, bucket: RankBucket) -> int:
        """Sort the bucket's rows (score descending, session id), number them from
        ``bucket.start + 1`` and write them to ``bucket.out``; the rows written."""
        if bucket.folder:
            pieces = [read_staged(f) for f in staged_files(as_folder(bucket.folder))]
        else:
            pieces = [read_staged(p).slice(a, n) for p, a, n in bucket.slices]
        if not pieces:
            return 0
        t = pa.concat_tables(pieces)
        ranked, _ = add_ranks(sort_for_rank(t), {bucket.model: bucket.start})
        write_part(ranked.cast(PARTS_SCHEMA), bucket.out)
        return ranked.num_rows
