"""Score runner: model folders + ``sequences`` → ``scores/part-*.parquet``, over a pool of workers.

Pass 1 cuts ``sequences`` into units of whole row groups (:func:`logad.scoring.worker.score_units`:
from the files' metadata, so the cut never depends on the workers) and hands them to
:class:`~logad.scoring.worker.ScoreWorker`\ s: each loads every model once, reads a unit's
columns, scores it and writes one staged part, in rank order, named by the unit; only a summary
per unit and model (counts and every few hundredth (score, session id) key) comes back to the
driver. Pass 2 gives every row its ``rank`` (see :mod:`logad.scoring.rank`): the pooled keys cut
each model's rows into buckets of at most ``rows_per_bucket`` rows (a run of equal scores is
cut between session ids); the workers split every staged part along the cuts into bucket
fragments (cutting again, from all its keys, a bucket that came out too large), then sort each
bucket, number it from the rows of the buckets above and write the final part. The driver holds
the sampled keys and counts per bucket only, and no worker sorts more than ``rows_per_bucket``
rows, so neither's memory grows with the input. ``manifest.json`` is written last; the whole
folder is renamed into place when it is complete (the commit point). For a scores folder on
object storage (``--out s3://...``) the workers write the final parts straight under a new run
prefix; the staged parts stay on local disk (on a cluster of several nodes: under a prefix of
the scores folder's own that no manifest names; ``$LOGAD_STAGING``, a shared path or an
object-storage URL, when set), and the manifest, naming the parts, is committed last
(:func:`logad.io.publish_dir`). Model folders there are fetched
to a local cache by each worker (:func:`logad.io.fetch_dir`).

The workers are Ray actors (:class:`logad.ray.workers.Workers`, one CPU each; a GPU each for
torch models on a GPU cluster), or, below ``local_below`` sessions, one worker in this
process: the same methods on the same units, so the same folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from logad import __version__
from logad.errors import InputError
from logad.io import (Store, as_folder, atomic_dir, finished_manifest, join, key_file, looks_remote,
                      new_run, open_parquet, publish_dir, sequences_files, write_manifest,
                      write_yaml)
from logad.models.trained import TrainedModel
from logad.ray.workers import Workers
from logad.scoring.parts import model_version
from logad.scoring.rank import cut_every, cut_keys
from logad.scoring.worker import RankBucket, ScoreWorker, SplitJob, columns_to_read, score_units
from logad.settings import ScoreSettings, coerce, stage_key

__all__ = ["run_score", "uses_torch"]

log = logging.getLogger(__name__)


def uses_torch(model: TrainedModel) -> bool:
    """True for torch models (weights as safetensors): their actors ask for a GPU when there is one."""
    return any(str(f).endswith(".safetensors") for f in model.detector.weight_files)


def _actor_options(torch_models: bool, gpus_per_actor: Any) -> dict:
    """One CPU an actor; a GPU (or ``gpus_per_actor``) each for torch models on a GPU cluster."""
    import ray

    if torch_models and ray.cluster_resources().get("GPU", 0) > 0:
        return {"num_gpus": 1.0 if gpus_per_actor in (None, "auto") else float(gpus_per_actor)}
    return {}


def _rank_buckets(workers: Workers, summary: list[dict], staging: str | Path, out: str | Path,
                  rows_per_bucket: int) -> tuple[dict, list[str]]:
    """Rank every model's rows in buckets of at most ``rows_per_bucket`` rows, highest first,
    each written as a final part into ``out`` (a local folder, or the run prefix of a scores
    folder on object storage: the workers write the parts there straight); what the pass did
    (buckets, refined, the largest bucket) and the parts written."""
    rank_dir = join(staging, "rank")
    every = cut_every(rows_per_bucket)
    buckets: list[tuple[str, int, RankBucket]] = []  # (model, rows, bucket) in rank order
    pieces: dict[str, list] = {}  # staged part -> pieces to split
    split_models: list[tuple[str, int, str]] = []  # (model, buckets, folder prefix): split
    for mi, model in enumerate(dict.fromkeys(r["model"] for r in summary)):
        rows = [r for r in summary if r["model"] == model]
        total = sum(r["rows"] for r in rows)
        if total <= rows_per_bucket:
            buckets.append((model, total, RankBucket(model, slices=tuple(
                (r["part"], r["offset"], r["rows"]) for r in rows))))
            continue
        cuts = tuple(cut_keys([k for r in rows for k in r["keys"]], every))
        prefix = str(join(rank_dir, f"m{mi:03d}"))
        for r in rows:
            pieces.setdefault(r["part"], []).append((model, r["offset"], r["rows"], cuts, prefix))
        split_models.append((model, len(cuts) + 1, prefix))
    jobs = [SplitJob(part, tuple(p)) for part, p in pieces.items()]
    counts: dict[str, np.ndarray] = {m: np.zeros(n, np.int64) for m, n, _ in split_models}
    for job, per_piece in zip(jobs, workers.map("split_part", jobs, progress="score: split")):
        for (model, *_), c in zip(job.pieces, per_piece):
            counts[model] += np.asarray(c, dtype=np.int64)
    big: list[RankBucket] = []
    for model, n, prefix in split_models:
        for k, c in enumerate(counts[model].tolist()):
            if c:
                b = RankBucket(model, folder=f"{prefix}-{k:06d}")
                buckets.append((model, c, b))
                if c > rows_per_bucket:
                    big.append(b)
    refined = {b.folder: r for b, r in zip(big, workers.map("refine", big, progress="score: refine"))}
    ranked: list[RankBucket] = []
    start: dict[str, int] = {}
    largest = 0
    for model, n, b in buckets:
        for folder, rows in refined.get(b.folder, [(b.folder, n)]):
            ranked.append(dataclasses.replace(b, folder=folder, start=start.get(model, 0),
                                              out=str(join(out, f"part-{len(ranked):05d}.parquet"))))
            start[model] = start.get(model, 0) + rows
            largest = max(largest, rows)
    written = [b.out for b, n in zip(ranked, workers.map("rank", ranked, progress="score: rank")) if n]
    return {"rows_per_bucket": rows_per_bucket, "buckets": len(ranked), "refined": len(big),
            "largest_bucket": largest}, written


def _score(files: list[str], dirs: list[str], models: list[TrainedModel], staging: str | Path,
           out: str | Path, cfg: dict, local: bool, torch_models: bool
           ) -> tuple[list[dict], dict, dict, list[str]]:
    """Score every unit on the workers (or in this process), then rank; the parts' summaries,
    the pool, what the rank pass did and the final parts written."""
    columns = columns_to_read(models, open_parquet(files[0]).schema_arrow.names)
    units = score_units(files, int(cfg["batch_size"]))
    if local:
        n, options = 1, {}
    else:
        from logad.ray.pool import pool_size
        from logad.ray.runtime import ensure_ray

        ensure_ray()
        n, options = min(pool_size(cfg.get("workers")), max(1, len(units))), \
            _actor_options(torch_models, cfg.get("gpus_per_actor"))
    summary: list[dict] = []
    rows_per_bucket = int(cfg["rows_per_bucket"])
    rank: dict = {}
    written: list[str] = []
    t0 = time.perf_counter()
    # the driver's loaded models travel to the actors, torch ones excepted: those load from
    # their folders on the actor, where the device is chosen
    given = [d if uses_torch(m) else (m, model_version(d)) for d, m in zip(dirs, models)]
    with Workers(ScoreWorker, (given, str(staging), cfg.get("split"), columns, rows_per_bucket),
                 n=n, local=local, options=options) as workers:
        for rows in workers.map("score", units, progress="score"):  # each actor starts on its own
            summary += rows
        t1 = time.perf_counter()
        if summary:
            rank, written = _rank_buckets(workers, summary, staging, out, rows_per_bucket)
        rank["seconds"] = {"start_and_score": round(t1 - t0, 3),
                           "rank": round(time.perf_counter() - t1, 3)}
        ready = [] if local else [round(s, 2) for s in workers.each("ready_cpu")]
    act = {"size": 0, "in_process": True} if local else {"size": n, **options}
    act["retried"] = workers.retried  # units redone after their worker was lost
    if ready:  # CPU seconds each actor's process had used when it was ready (imports, models)
        act["startup_cpu_s"] = ready
    return summary, act, rank, written


def _n_sessions(files: list[str]) -> int:
    return sum(open_parquet(f).metadata.num_rows for f in files)


def _staging(out: str, local: bool) -> str | None:
    """Where the workers stage their parts for a scores folder bound for object storage:
    ``$LOGAD_STAGING`` (a shared path or an object-storage URL) when set; on a cluster of
    several nodes, a prefix of the scores folder's own (``_runs/<id>``, never named by a
    manifest, so the commit removes it), since a node's local disk is not the others'; else
    None (local disk, the fastest)."""
    shared = os.environ.get("LOGAD_STAGING")
    if shared:
        if looks_remote(shared):
            return f"{as_folder(shared)}/{new_run().rsplit('/', 1)[-1]}"
        Path(shared).mkdir(parents=True, exist_ok=True)
        return tempfile.mkdtemp(prefix="logad-score-", dir=shared)
    if local:
        return None
    from logad.ray.runtime import ensure_ray, one_node

    ensure_ray()
    return None if one_node() else f"{out}/{new_run()}"


def _remove(folder: str | Path) -> None:
    """Remove a staging folder, local or on object storage."""
    if looks_remote(folder):
        Store.at(str(as_folder(folder))).remove("")
    else:
        shutil.rmtree(folder, ignore_errors=True)


def run_score(model_dirs: str | Path | Sequence[str | Path], sequences: str | Path,
              out_dir: str | Path, cfg: dict | None = None) -> dict:
    """Score every session of ``sequences`` (or one ``split``) with one or several models.

    Parameters
    ----------
    model_dirs : path or list of paths
        Model folders written by ``logad train``; all are scored in one pass over the data.
    sequences : path
        A sequences folder written by ``logad sessionize``.
    out_dir : path
        Gets ``part-*.parquet`` (:data:`logad.scoring.parts.PARTS_SCHEMA`), ``manifest.json`` and
        ``score_config.yaml``. A re-run with the same inputs and settings is skipped.
    cfg : ScoreSettings or dict, optional
        The resolved settings (a dict: values over ``configs/score.yaml``, validated at once):
        ``workers`` (pool size; default one per cluster CPU), ``batch_size`` (rows of a work
        unit, in whole row groups), ``split``,
        ``gpus_per_actor`` ("auto": 1 when a model is a torch model and the cluster has GPUs),
        ``local_below`` (score in this process below this many sessions; 0: always on Ray),
        ``rows_per_bucket`` (the most rows one rank-pass task sorts; ranks never depend on it).

    Returns
    -------
    dict
        The manifest: per model sessions, flagged, threshold, version; totals and seconds.
    """
    settings = coerce(ScoreSettings, cfg)
    cfg = settings.dump()
    t0 = time.perf_counter()
    dirs = [str(as_folder(d)) if looks_remote(d) else str(d)
            for d in ([model_dirs] if isinstance(model_dirs, (str, Path)) else model_dirs)]
    if not dirs:
        raise InputError("score: no model given (pass --model at least once)")
    remote = looks_remote(out_dir)
    out: str | Path = as_folder(out_dir) if remote else Path(out_dir)
    models = [(TrainedModel.load(d), model_version(d)) for d in dirs]  # fail fast, on the driver
    names = [m.spec.name for m, _ in models]
    if len(set(names)) != len(names):
        raise InputError(f"score: the same model twice ({', '.join(names)}); each --model must be "
                         "a different named model")
    files = sequences_files(as_folder(sequences))
    key = stage_key([*files, *(key_file(d, "model.yml") for d in dirs)], settings)
    done = finished_manifest(out, key)
    if done is not None:
        log.info("%s: already scored with these models and settings; skipping", out)
        return {**done, "skipped": True}
    torch_models = any(uses_torch(m) for m, _ in models)
    n_in = _n_sessions(files)
    local = n_in < settings.local_below
    if not remote:
        with atomic_dir(out) as tmp:
            manifest = _write(tmp, tmp, files, dirs, models, cfg, key, n_in, local, torch_models, t0)
        return manifest
    # object storage: the workers write the final parts under a new run prefix; the staged
    # parts, the settings and the folder's manifest are made locally, then published
    staging, run = _staging(str(out), local), new_run()
    scratch = Path(tempfile.mkdtemp(prefix="logad-score-"))
    try:
        (scratch / "scores").mkdir()
        manifest = _write(scratch / "scores", f"{out}/{run}", files, dirs, models, cfg, key, n_in,
                          local, torch_models, t0, staging)
        return publish_dir(scratch / "scores", str(out), manifest, run=run, written=manifest["parts"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if staging is not None:
            _remove(staging)


def _write(tmp: Path, dest: str | Path, files: list[str], dirs: list[str], models: list, cfg: dict,
           key: str, n_in: int, local: bool, torch_models: bool, t0: float,
           staging: str | None = None) -> dict:
    """Score into the folder ``tmp`` (its final parts into ``dest``: ``tmp`` itself, or a run
    prefix on object storage), with ``score_config.yaml`` and ``manifest.json`` in ``tmp`` (the
    manifest, returned); the staged parts go to ``staging`` (default ``tmp/.staging``)."""
    where: str | Path = as_folder(staging) if staging else tmp / ".staging"
    if isinstance(where, Path):
        where.mkdir(parents=True, exist_ok=True)
    summary, act, rank, written = _score(files, dirs, [m for m, _ in models], where, dest, cfg,
                                         local, torch_models)
    _remove(where)
    per_model = []
    for (m, version), d in zip(models, dirs):
        rows = [r for r in summary if r["model"] == m.spec.name]
        per_model.append({"model": m.spec.name, "model_dir": d, "version": version,
                          "threshold": float(m.detector.threshold_),
                          "sessions": sum(r["rows"] for r in rows),
                          "flagged": sum(r["flagged"] for r in rows),
                          "unknown_tokens": sum(r["unknown"] for r in rows)})
    parts = sorted(str(p).rsplit("/", 1)[-1] for p in written)
    first = per_model[0]
    manifest = {
        "stage": "score", "logad_version": __version__, "run_key": key, "status": "complete",
        "inputs": files, "sessions_in": n_in, "models": per_model, "parts": parts,
        "settings_file": "score_config.yaml",
        # single-model fields kept for readers of the earlier layout
        "model_dir": first["model_dir"], "model": first["model"], "sessions": first["sessions"],
        "flagged": first["flagged"], "threshold": first["threshold"],
        "unknown_tokens": first["unknown_tokens"],
        "rank": "ordinal within each model: 1 = highest score, ties by session id",
        "rank_pass": rank,
        "actors": act, "retried": act["retried"], "seconds": round(time.perf_counter() - t0, 3),
    }
    write_yaml(cfg, tmp / "score_config.yaml")
    write_manifest(manifest, tmp / "manifest.json")
    return manifest
