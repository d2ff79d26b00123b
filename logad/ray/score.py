"""Score runner: model folders + ``sequences`` → ``scores/part-*.parquet``, over a pool of workers.

Pass 1 cuts ``sequences`` into units of whole row groups (:func:`logad.scoring.worker.score_units`:
from the files' metadata, so the cut never depends on the workers) and hands them to
:class:`~logad.scoring.worker.ScoreWorker`\ s: each loads every model once, reads a unit's
columns, scores it and writes one staged part named by the unit; only a summary per unit and
model (counts and a 33-point quantile sketch of the scores) comes back to the driver. Pass 2
gives every row its ``rank`` (see :mod:`logad.scoring.parts`): the sketches cut each model's
scores into buckets of about ``rows_per_bucket`` rows; the workers count each bucket (a filtered
read), then sort each one by (score descending, session id), number it from the count of the
buckets above and write the final part. The driver holds sketches and counts only, so its
memory does not grow with the input. ``manifest.json`` is written last; the whole folder is
renamed into place when it is complete (the commit point).

The workers are Ray actors (:class:`logad.ray.workers.Workers`, one CPU each; a GPU each for
torch models on a GPU cluster), or, below ``local_below`` sessions, one worker in this
process: the same methods on the same units, so the same folder.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow.parquet as pq

from logad import __version__
from logad.errors import InputError
from logad.io import atomic_dir, finished_manifest, sequences_files, write_manifest, write_yaml
from logad.models.trained import TrainedModel
from logad.ray.workers import Workers
from logad.scoring.parts import model_version
from logad.scoring.worker import RankBucket, ScoreWorker, columns_to_read, score_units
from logad.settings import ScoreSettings, coerce, stage_key

__all__ = ["run_score", "uses_torch", "bucket_bounds"]

log = logging.getLogger(__name__)


def uses_torch(model: TrainedModel) -> bool:
    """True for torch models (weights as safetensors): their actors ask for a GPU when there is one."""
    return any(str(f).endswith(".safetensors") for f in model.detector.weight_files)


def bucket_bounds(sketches: list[tuple[int, list[float]]], n_buckets: int) -> list[float]:
    """Score cuts that split rows into ``n_buckets`` of about equal size, from per-part quantiles.

    ``sketches`` holds (rows, quantiles) of each part; the cuts are weighted quantiles of the
    pooled quantile points. Returns ascending cuts, ``-inf`` first and ``+inf`` last.
    """
    pts, wts = [], []
    for n, q in sketches:
        if n and q:
            pts += list(q)
            wts += [n / len(q)] * len(q)
    cuts = [-np.inf]
    if n_buckets > 1 and pts:
        order = np.argsort(pts, kind="stable")
        p, c = np.asarray(pts)[order], np.cumsum(np.asarray(wts)[order])
        for i in range(1, n_buckets):
            cut = float(p[min(len(p) - 1, int(np.searchsorted(c, c[-1] * i / n_buckets)))])
            if cut > cuts[-1]:
                cuts.append(cut)
    return cuts + [np.inf]


def _actor_options(torch_models: bool, gpus_per_actor: Any) -> dict:
    """One CPU an actor; a GPU (or ``gpus_per_actor``) each for torch models on a GPU cluster."""
    import ray

    if torch_models and ray.cluster_resources().get("GPU", 0) > 0:
        return {"num_gpus": 1.0 if gpus_per_actor in (None, "auto") else float(gpus_per_actor)}
    return {}


def _rank_buckets(workers: Workers, summary: list[dict], out: Path, rows_per_bucket: int) -> None:
    """Per model, score buckets of about ``rows_per_bucket`` rows (cut from the parts' quantile
    sketches), highest first; count each bucket, then sort, number and write it as a part."""
    jobs: list[RankBucket] = []
    for model in dict.fromkeys(r["model"] for r in summary):
        rows = [r for r in summary if r["model"] == model]
        total = sum(r["rows"] for r in rows)
        cuts = bucket_bounds([(r["rows"], r["quantiles"]) for r in rows],
                             max(1, -(-total // rows_per_bucket)))
        buckets = [RankBucket(model, cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1)][::-1]
        counts = [total] if len(buckets) == 1 else list(workers.map("count", buckets))
        start = 0
        for b, n in zip(buckets, counts):
            if n:
                jobs.append(RankBucket(b.model, b.lo, b.hi, start,
                                       str(out / f"part-{len(jobs):05d}.parquet")))
            start += n
    for _ in workers.map("rank", jobs, progress="score: rank"):
        pass


def _score(files: list[str], dirs: list[str], models: list[TrainedModel], staging: Path, out: Path,
           cfg: dict, local: bool, torch_models: bool) -> tuple[list[dict], dict]:
    """Score every unit on the workers (or in this process), then rank; the parts' summaries."""
    columns = columns_to_read(models, pq.read_schema(files[0]).names)
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
    with Workers(ScoreWorker, (dirs, str(staging), cfg.get("split"), columns), n=n, local=local,
                 options=options) as workers:
        for rows in workers.map("score", units, progress="score"):
            summary += rows
        if summary:
            _rank_buckets(workers, summary, out, int(cfg["rows_per_bucket"]))
    act = {"size": 0, "in_process": True} if local else {"size": n, **options}
    act["retried"] = workers.retried  # units redone after their worker was lost
    return summary, act


def _n_sessions(files: list[str]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


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
        ``local_below`` (score in this process below this many sessions; 0: always on Ray).

    Returns
    -------
    dict
        The manifest: per model sessions, flagged, threshold, version; totals and seconds.
    """
    settings = coerce(ScoreSettings, cfg)
    cfg = settings.dump()
    t0 = time.perf_counter()
    dirs = [str(d) for d in ([model_dirs] if isinstance(model_dirs, (str, Path)) else model_dirs)]
    if not dirs:
        raise InputError("score: no model given (pass --model at least once)")
    models = [(TrainedModel.load(d), model_version(d)) for d in dirs]  # fail fast, on the driver
    names = [m.spec.name for m, _ in models]
    if len(set(names)) != len(names):
        raise InputError(f"score: the same model twice ({', '.join(names)}); each --model must be "
                         "a different named model")
    files = sequences_files(sequences)
    out = Path(out_dir)
    key = stage_key([*files, *(Path(d) / "model.yml" for d in dirs)], settings)
    done = finished_manifest(out, key)
    if done is not None:
        log.info("%s: already scored with these models and settings; skipping", out)
        return {**done, "skipped": True}
    torch_models = any(uses_torch(m) for m, _ in models)
    n_in = _n_sessions(files)
    local = n_in < settings.local_below
    with atomic_dir(out) as tmp:
        staging = tmp / ".staging"
        staging.mkdir()
        summary, act = _score(files, dirs, [m for m, _ in models], staging, tmp, cfg, local,
                              torch_models)
        shutil.rmtree(staging, ignore_errors=True)
        per_model = []
        for (m, version), d in zip(models, dirs):
            rows = [r for r in summary if r["model"] == m.spec.name]
            per_model.append({"model": m.spec.name, "model_dir": d, "version": version,
                              "threshold": float(m.detector.threshold_),
                              "sessions": sum(r["rows"] for r in rows),
                              "flagged": sum(r["flagged"] for r in rows),
                              "unknown_tokens": sum(r["unknown"] for r in rows)})
        parts = sorted(p.name for p in tmp.glob("part-*.parquet"))
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
            "actors": act, "retried": act["retried"], "seconds": round(time.perf_counter() - t0, 3),
        }
        write_yaml(cfg, tmp / "score_config.yaml")
        write_manifest(manifest, tmp / "manifest.json")
    return manifest
