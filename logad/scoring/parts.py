"""Streamed ``scores``: one row per (session, model), written as ``part-*.parquet`` files.

``score_models_batch`` turns one batch of ``sequences`` rows into score rows for every model;
a session is one row of ``sequences``, so all its lines are in the same batch and the session's
score (the highest line for event-level models) never depends on how rows are batched.

``rank`` is the session's place within its model: 1 for the highest score, ties broken by
session id (an ordinal rank, so it is unique per model and does not depend on the number of
workers). It needs a global order, so the runner writes the parts first with ``rank`` null and
then adds it in a second, cheap pass over the score columns only (:func:`rank_offsets`,
:func:`add_ranks`).

``ref_path`` / ``ref_line_no`` point at the raw line a person should look at first: the line
that scored highest for event-level models, the session's first line otherwise. Every line of a
session is reachable through the ``refs`` of ``sequences`` (join on ``session_id``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.errors import InputError
from logad.io import local_dir
from logad.models.folder import read_model_yml
from logad.models.trained import TrainedModel
from logad.scoring.scores import aggregate_to_sessions, score_batch

__all__ = ["PARTS_SCHEMA", "model_version", "score_models_batch", "read_scores", "score_parts",
           "add_ranks", "sort_for_rank", "write_part"]

PARTS_SCHEMA = pa.schema([
    ("session_id", pa.string()),
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("score", pa.float64()),
    ("is_anomaly", pa.int8()),
    ("threshold", pa.float64()),
    ("rank", pa.int64()),
    ("label", pa.int8()),
    ("split", pa.string()),
    ("n_unknown", pa.int64()),
    ("top_pos", pa.int64()),
    ("ref_path", pa.string()),
    ("ref_line_no", pa.int64()),
])


def model_version(model_dir: str | Path) -> str:
    """A short content id of a trained model: its training key, else a hash of ``model.yml``.

    The training key (``extra.train_key``) hashes the training data and every setting, so two
    folders holding the same training have the same version.
    """
    folder = local_dir(model_dir, "model folder")
    meta = read_model_yml(folder)
    key = (meta.get("extra") or {}).get("train_key")
    if not key:
        key = hashlib.blake2b((folder / "model.yml").read_bytes(), digest_size=8).hexdigest()
    return str(key)[:12]


def _ref_of(batch: pa.Table, session_rows: np.ndarray, top_pos: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``(path, line_no)`` of line ``top_pos`` (null: the first line) of each scored session."""
    if "refs" not in batch.column_names:
        n = len(session_rows)
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.int64())
    refs = batch.column("refs").combine_chunks() if isinstance(batch.column("refs"), pa.ChunkedArray) \
        else batch.column("refs")
    offsets = refs.offsets.to_numpy()
    lengths = np.diff(offsets)
    pos = np.asarray(top_pos.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = offsets[:-1][session_rows]
    ok = lengths[session_rows] > pos
    flat = refs.flatten()
    idx = pa.array(np.where(ok, starts + pos, 0), mask=~ok) if len(flat) else pa.nulls(len(pos), pa.int64())
    if not len(flat):
        return pa.nulls(len(pos), pa.string()), pa.nulls(len(pos), pa.int64())
    picked = flat.take(idx)
    return picked.field("path"), picked.field("line_no")


def score_models_batch(models: Sequence[tuple[TrainedModel, str]], batch: pa.Table) -> pa.Table:
    """Score rows (:data:`PARTS_SCHEMA`, ``rank`` null) of ``batch`` for every model, by model then id.

    ``models`` holds ``(model, version)`` pairs; each model's rows come out sorted by session id.
    """
    out = []
    sid_index = {s: i for i, s in enumerate(batch.column("session_id").to_pylist())}
    for model, version in models:
        rows = score_batch(model, batch)
        s = aggregate_to_sessions(rows, model.detector.threshold_)
        n = s.num_rows
        session_rows = np.fromiter((sid_index[x] for x in s.column("session_id").to_pylist()),
                                   dtype=np.int64, count=n)
        path, line_no = _ref_of(batch, session_rows, s.column("top_pos"))
        out.append(pa.table({
            "session_id": s.column("session_id"),
            "model": pa.array([model.spec.name] * n, pa.string()),
            "model_version": pa.array([version] * n, pa.string()),
            "score": s.column("score"), "is_anomaly": s.column("is_anomaly"),
            "threshold": s.column("threshold"), "rank": pa.nulls(n, pa.int64()),
            "label": s.column("label"), "split": s.column("split"),
            "n_unknown": s.column("n_unknown"), "top_pos": s.column("top_pos"),
            "ref_path": path, "ref_line_no": line_no,
        }, schema=PARTS_SCHEMA))
    return pa.concat_tables(out) if out else PARTS_SCHEMA.empty_table()


def sort_for_rank(table: pa.Table) -> pa.Table:
    """Rows in rank order: model, score descending, session id."""
    order = pc.sort_indices(table, sort_keys=[("model", "ascending"), ("score", "descending"),
                                              ("session_id", "ascending")])
    return table.take(order)


def add_ranks(sorted_block: pa.Table, start: dict[str, int]) -> tuple[pa.Table, dict[str, int]]:
    """Set ``rank`` of a block in rank order, given the rows of each model before it.

    Returns the block and ``start`` updated by this block's rows (for the next block).
    """
    models = sorted_block.column("model").to_numpy(zero_copy_only=False)
    rank = np.empty(len(models), dtype=np.int64)
    nxt = dict(start)
    for name in dict.fromkeys(models.tolist()):
        where = np.flatnonzero(models == name)
        rank[where] = nxt.get(name, 0) + 1 + np.arange(len(where))
        nxt[name] = nxt.get(name, 0) + len(where)
    i = sorted_block.schema.get_field_index("rank")
    return sorted_block.set_column(i, "rank", pa.array(rank)), nxt


def score_parts(folder: str | Path) -> list[Path]:
    """The ``part-*.parquet`` files of a scores folder, in name order (one on object storage:
    of its local copy, :func:`logad.io.fetch_dir`)."""
    return sorted(local_dir(folder, "scores folder").glob("part-*.parquet"))


def read_scores(path: str | Path, *, model: str | None = None,
                columns: Sequence[str] | None = None, where=None) -> pa.Table:
    """One model's scores from a scores folder (parts) or a single Parquet file, by session id.

    ``model`` may be omitted when the folder holds one model only. A folder on object storage
    (``s3://...``) is fetched to the local cache first. Folders written before the
    parts layout (one ``scores.parquet``) are read too. ``where`` is a
    :mod:`pyarrow.dataset` expression pushed down to the read (e.g. ``field("rank") <= 100``).
    """
    p = local_dir(path, "scores folder")
    files = [p] if p.is_file() else score_parts(p) or ([p / "scores.parquet"]
                                                        if (p / "scores.parquet").is_file() else [])
    if not files:
        raise InputError(f"{path}: no part-*.parquet (nor scores.parquet); run `logad score` first")
    import pyarrow.dataset as pads

    ds = pads.dataset([str(f) for f in files], format="parquet")
    names = ds.schema.names
    if "model" in names:
        found = sorted(set(ds.to_table(columns=["model"]).column("model").unique().to_pylist()))
        if model is None:
            if len(found) > 1:
                raise InputError(f"{path}: holds {len(found)} models ({', '.join(found)}); "
                                 "name one with --model")
            model = found[0] if found else None
        elif model not in found:
            raise InputError(f"{path}: no scores of model {model!r}; it holds {', '.join(found)}")
    flt = (pads.field("model") == model) if model is not None and "model" in names else None
    if where is not None:
        flt = where if flt is None else flt & where
    cols = None if columns is None else [c for c in columns if c in names]
    table = ds.to_table(columns=cols, filter=flt)
    return table.take(pc.sort_indices(table, sort_keys=[("session_id", "ascending")])) \
        if "session_id" in table.column_names else table


def write_part(table: pa.Table, path: str | Path) -> None:
    """Write one part atomically (temp name, then rename)."""
    from logad.io import write_parquet

    write_parquet(table, path, compression="zstd")

