"""Score runner: model folders + ``sequences`` → ``scores/part-*.parquet``, over a Ray actor pool.

Pass 1 streams ``sequences`` through ``map_batches`` with :class:`PartScorer`, a callable class:
each actor loads every model once and writes the score rows of each batch it gets as one part
(named by a hash of the batch's session ids, so names do not depend on the actors); only a
one-row summary per batch and model (counts and a 33-point quantile sketch of the scores) comes
back to the driver. Pass 2 gives every row its ``rank`` (see :mod:`logad.scoring.parts`): the
sketches cut each model's scores into buckets of about ``rows_per_bucket`` rows; one task per
bucket counts its rows (a filtered one-column read), and one task per bucket reads its rows,
sorts them by (score descending, session id), numbers them from the count of the buckets above
and writes the final part. The driver holds sketches and counts only, so its memory does not
grow with the input. ``manifest.json`` is written last;
the whole folder is renamed into place when it is complete (the commit point).

Below ``local_below`` sessions the same functions run in this process (Ray's start-up and
scheduling cost more than the work); the result is the same table.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logad import __version__
from logad.config import deep_merge
from logad.errors import ConfigError, InputError
from logad.io import (atomic_dir, finished_manifest, run_key, sequences_files, write_manifest,
                      write_yaml)
from logad.models.trained import TrainedModel
from logad.scoring.parts import (PARTS_SCHEMA, add_ranks, model_version, score_models_batch,
                                 sort_for_rank, write_part)

__all__ = ["run_score", "PartScorer", "DEFAULTS", "uses_torch"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"actors": None, "batch_size": 2048, "split": None,
                            "gpus_per_actor": "auto", "local_below": 5000}

#: Logical CPUs of a read or rank task (small: they mostly wait on I/O).
READ_CPUS = 0.1
#: Rows a rank-pass task sorts at most (about; the cuts come from quantile sketches).
ROWS_PER_BUCKET = 500_000
#: Quantile points each part reports for its scores (to cut the rank buckets).
SKETCH_POINTS = 33


def uses_torch(model: TrainedModel) -> bool:
    """True for torch models (weights as safetensors): their actors ask for a GPU when there is one."""
    return any(str(f).endswith(".safetensors") for f in model.detector.weight_files)


def _part_name(batch: pa.Table) -> str:
    ids = batch.column("session_id")
    doc = f"{ids[0].as_py()}\x00{ids[-1].as_py()}\x00{len(ids)}" if len(ids) else "empty"
    return f"part-{hashlib.blake2b(doc.encode(), digest_size=8).hexdigest()}.parquet"


def _summary(rows: pa.Table, part: str) -> pa.Table:
    """One row per model of a written part: rows, flagged, unknown tokens, score quantiles."""
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
    return pa.Table.from_pylist(out)


class PartScorer:
    """Ray Data callable class: loads every model once per actor, writes one part per batch."""

    def __init__(self, model_dirs: Sequence[str], staging: str) -> None:
        self.models = [(TrainedModel.load(d), model_version(d)) for d in model_dirs]
        self.staging = Path(staging)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = score_models_batch(self.models, batch)
        part = _part_name(batch)
        write_part(rows, self.staging / part)
        return _summary(rows, part)


def _rank_bucket(staged: list[str], model: str, lo: float, hi: float, start: int, path: str) -> int:
    """Read one model's rows with ``lo < score <= hi`` from the staged parts, rank, write a part."""
    import pyarrow.dataset as pads

    f = pads.field
    flt = (f("model") == model) & (f("score") > lo) & (f("score") <= hi)
    t = pads.dataset(staged, format="parquet").to_table(filter=flt)
    if t.num_rows == 0:
        return 0
    ranked, _ = add_ranks(sort_for_rank(t), {model: start})
    write_part(ranked.cast(PARTS_SCHEMA), path)
    return ranked.num_rows


def _count_bucket(staged: list[str], model: str, lo: float, hi: float) -> int:
    import pyarrow.dataset as pads

    f = pads.field
    return pads.dataset(staged, format="parquet").count_rows(
        filter=(f("model") == model) & (f("score") > lo) & (f("score") <= hi))


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


def _actor_settings(n_requested: int | None, torch_models: bool, gpus_per_actor: Any) -> dict:
    import ray

    res = ray.cluster_resources()
    cpus = float(res.get("CPU", 1))
    n = int(n_requested) if n_requested else max(1, int(cpus))
    if n < 1:
        raise ConfigError(f"score.actors must be >= 1, got {n_requested}")
    # logical CPUs only: one stays free for Ray Data's file listing and reads (which take a whole
    # CPU), else a pool as large as the cluster waits for it forever; each actor still runs on
    # its own core
    cpu_each = min(1.0, max(0.05, (cpus - 1.0) / n)) if cpus > 1 else 0.5 / n
    gpus = 0.0
    if torch_models and res.get("GPU", 0) > 0:
        gpus = 1.0 if gpus_per_actor in (None, "auto") else float(gpus_per_actor)
    return {"size": n, "num_cpus": round(cpu_each, 3), "num_gpus": gpus}


def _score_with_ray(files: list[str], dirs: list[str], staging: Path, out: Path, cfg: dict,
                    torch_models: bool) -> tuple[list[dict], dict]:
    import ray

    from logad.ray.runtime import ensure_ray

    ensure_ray()
    ds = ray.data.read_parquet(files, num_cpus=READ_CPUS)
    if cfg.get("split"):
        ds = ds.filter(expr=f"split == '{cfg['split']}'")
    act = _actor_settings(cfg.get("actors"), torch_models, cfg.get("gpus_per_actor"))
    stats = ds.map_batches(PartScorer, fn_constructor_args=(dirs, str(staging)),
                           batch_format="pyarrow", batch_size=int(cfg["batch_size"]),
                           compute=ray.data.ActorPoolStrategy(size=act["size"]),
                           num_cpus=act["num_cpus"], num_gpus=act["num_gpus"] or None)
    summary = stats.take_all()  # one small row per batch and model
    staged = sorted(str(p) for p in staging.glob("part-*.parquet"))
    if not staged:
        return summary, act
    # rank pass: per model, score buckets of about ROWS_PER_BUCKET rows (cut from the parts'
    # quantile sketches); a first round counts each bucket (one column read), a second sorts
    # each bucket, adds ranks from the counts above it and writes it as a final part
    counter, writer = ray.remote(num_cpus=READ_CPUS)(_count_bucket), ray.remote(num_cpus=READ_CPUS)(_rank_bucket)
    jobs = []
    for model in dict.fromkeys(r["model"] for r in summary):
        rows = [r for r in summary if r["model"] == model]
        total = sum(r["rows"] for r in rows)
        cuts = bucket_bounds([(r["rows"], r["quantiles"]) for r in rows],
                             max(1, -(-total // int(cfg.get("rows_per_bucket") or ROWS_PER_BUCKET))))
        buckets = [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1)][::-1]  # highest first
        counts = [total] if len(buckets) == 1 else \
            ray.get([counter.remote(staged, model, lo, hi) for lo, hi in buckets])
        start = 0
        for (lo, hi), n in zip(buckets, counts):
            if n:
                jobs.append(writer.remote(staged, model, lo, hi, start,
                                          str(out / f"part-{len(jobs):05d}.parquet")))
            start += n
    ray.get(jobs)
    return summary, act


def _score_in_process(files: list[str], models: list[tuple[TrainedModel, str]], out: Path,
                      cfg: dict) -> list[dict]:
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    if cfg.get("split"):
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table.column("split"), cfg["split"]))
    step = int(cfg["batch_size"])
    rows = [score_models_batch(models, table.slice(i, step)) for i in range(0, table.num_rows, step)]
    rows = sort_for_rank(pa.concat_tables(rows)) if rows else PARTS_SCHEMA.empty_table()
    ranked, _ = add_ranks(rows, {})
    if ranked.num_rows:
        write_part(ranked, out / "part-00000.parquet")
    return _summary(ranked, "part-00000.parquet").to_pylist() if ranked.num_rows else []



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
    cfg : dict, optional
        ``actors`` (pool size; default one per cluster CPU), ``batch_size``, ``split``,
        ``gpus_per_actor`` ("auto": 1 when a model is a torch model and the cluster has GPUs),
        ``local_below`` (score in this process below this many sessions; 0: always on Ray).

    Returns
    -------
    dict
        The manifest: per model sessions, flagged, threshold, version; totals and seconds.
    """
    cfg = deep_merge(DEFAULTS, cfg or {})
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
    key = run_key([*files, *(Path(d) / "model.yml" for d in dirs)],
                  {k: v for k, v in cfg.items() if k not in ("actors", "local_below")})
    done = finished_manifest(out, key)
    if done is not None:
        log.info("%s: already scored with these models and settings; skipping", out)
        return {**done, "skipped": True}
    torch_models = any(uses_torch(m) for m, _ in models)
    n_in = _n_sessions(files)
    local = n_in < int(cfg.get("local_below") or 0)
    with atomic_dir(out) as tmp:
        if local:
            summary, act = _score_in_process(files, models, tmp, cfg), {"size": 0, "in_process": True}
        else:
            staging = tmp / ".staging"
            staging.mkdir()
            summary, act = _score_with_ray(files, dirs, staging, tmp, cfg, torch_models)
            import shutil

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
            "actors": act, "seconds": round(time.perf_counter() - t0, 3),
        }
        write_yaml(cfg, tmp / "score_config.yaml")
        write_manifest(manifest, tmp / "manifest.json")
    return manifest
