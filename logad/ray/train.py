"""Train runner: a named model on a ``sequences`` folder, into a model folder.

Vocabularies are counted over the training split on Ray Data (partial counts per block, merged on
the driver, identical to a one-process fit); the classical detectors then fit on one node. The
threshold is chosen on the validation split only (``threshold.method``: best_f1, percentile, fpr,
or none to keep the contamination threshold); the sweep is saved as ``threshold_sweep.csv``.
The test split is never read here.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from logad.settings import TrainSettings, coerce, stage_key
from logad.errors import InputError, ModelError
from logad.evaluate.metrics import compute_metrics
from logad.features import make_featurizer_from_config
from logad import __version__
from logad.io import (Part, Store, Timer, as_folder, finished_manifest, join, looks_remote,
                      publish_dir, read_published, sequences_files, sequences_parts)
from logad.models._checks import n_rows, select_rows
from logad.models.folder import git_commit, read_model_yml
from logad.models.registry import build_detector, get_model
from logad.models.thresholds import choose_threshold
from logad.models.trained import TrainedModel
from logad.ray.features import fit_from_tables
from logad.ray.pool import pool_size
from logad.ray.runtime import ensure_ray
from logad.ray.train_worker import TRAIN_SPLITS, FeatureWorker, columns_for, stack_pieces
from logad.ray.workers import Workers, in_process
from logad.scoring import aggregate_to_sessions
from logad.schema import require_columns

__all__ = ["run_train", "read_split", "sequences_files"]

log = logging.getLogger(__name__)



def read_split(files: list[str], split: str | None, columns: list[str] | None = None) -> pa.Table:
    """Rows of one split (all rows when ``split`` is None), in session-id order."""
    import ray

    ds = ray.data.read_parquet(files, columns=columns)
    if split is not None:
        ds = ds.filter(expr=f"split == '{split}'")
    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables).sort_by("session_id")


def _size(path: str | Path) -> int:
    if looks_remote(path):
        parent, _, name = str(path).rpartition("/")
        return Store.at(parent).stat(name)[0]
    return Path(path).stat().st_size


def _fingerprint(parts: list[Part]) -> dict[str, Any]:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(f"{str(p.path).rsplit('/', 1)[-1]}:{p.rows}:{_size(p.path)}".encode())
    return {"paths": [str(p.path) for p in parts], "hash": h.hexdigest()}


def _finished(out_dir: str | Path, key: str) -> dict | None:
    """The summary of a model folder trained with the same key, else None (re-train). On
    object storage: of the folder's committed manifest (:mod:`logad.io.publish`)."""
    if looks_remote(out_dir):
        if finished_manifest(out_dir, key) is None:
            return None
        import yaml

        extra = yaml.safe_load(read_published(str(out_dir), "model.yml", "model folder")).get("extra") or {}
        return extra if extra.get("train_key") == key else None
    try:
        extra = read_model_yml(out_dir).get("extra") or {}
    except ModelError:
        return None
    return extra if extra.get("train_key") == key else None


def _train_run_dir(out_dir: str | Path, name: str, storage_path: str | None = None) -> str | Path:
    """Ray Train's run folder: ``<storage_path>/<model>`` when the ``torch.storage_path``
    setting gives one, else beside the model folder, ``<out>.train/<model>``; on object
    storage too (its checkpoints there, so a ``--resume`` works from any machine)."""
    if storage_path:
        return join(as_folder(storage_path), name)
    if looks_remote(out_dir):
        return f"{as_folder(out_dir)}.train/{name}"
    return Path(f"{out_dir}.train") / name


def _save(model: TrainedModel, out_dir: str | Path, summary: dict, scratch: Path | None) -> None:
    """Write the model folder; on object storage the folder is written in ``scratch`` and
    published (its manifest, committed last, carries the training key for the skip check)."""
    if scratch is None:
        model.save(out_dir, extra=summary)
        return
    model.save(scratch / "model", extra=summary)
    publish_dir(scratch / "model", str(out_dir), {
        "stage": "train", "status": "complete", "logad_version": __version__,
        "run_key": summary["train_key"], "inputs": summary["data"]["paths"],
        "model": summary["model"], "seconds": sum(summary["seconds"].values())})


def _session_scores(model: TrainedModel, X: Any, index: pa.Table, unknown: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Session scores and labels of the rows of ``X``, exactly as ``logad score`` computes them
    (one score a session: its highest row)."""
    rows = pa.table({"session_id": index.column("session_id"), "pos": index.column("pos").cast(pa.int64()),
                     "score": pa.array(np.asarray(model.detector.score_samples(X), dtype=np.float64)),
                     "label": index.column("label").cast(pa.int8()), "split": index.column("split"),
                     "n_unknown": pa.array(np.asarray(unknown, dtype=np.int64))})
    sessions = aggregate_to_sessions(rows, model.detector.threshold_)
    labels = sessions.column("label").to_numpy(zero_copy_only=False).astype(float)
    known = ~np.isnan(labels)
    return sessions.column("score").to_numpy()[known], labels[known].astype(np.int64)


def _labels(index: pa.Table) -> np.ndarray:
    """Row labels (1, 0, or -1 for unknown) of a feature index."""
    lab = index.column("label").cast(pa.int64()).fill_null(-1)
    return np.asarray(lab.to_numpy(zero_copy_only=False), dtype=np.int64)


def _tune_on_validation(detector: Any, X_val: Any, idx_val: pa.Table, method: str,
                        th_cfg: Any) -> dict | None:
    """A detector's own choices on the validation split (LogBERT's hypersphere radius), made
    before the threshold is chosen on the scores they give; rows without a label are left out.
    The detectors with the hook are session-level (a row is a session)."""
    tune = getattr(detector, "tune_on_validation", None)
    if tune is None:
        return None
    y = _labels(idx_val)
    known = y >= 0
    return tune(select_rows(X_val, known), y[known], method, q=th_cfg.q, alpha=th_cfg.alpha)


def _feature_names(featurizers: list) -> list[str]:
    several = len(featurizers) > 1
    return [f"{type(f).__name__}:{n}" if several else n for f in featurizers for n in f.feature_names()]


def _share_files(parts: list[Part], n: int) -> list[list[str]]:
    """The parts' files dealt to ``n`` workers, largest first to the least loaded (by rows)."""
    sizes = sorted(((p.rows, str(p.path)) for p in parts), reverse=True)
    shares: list[list[str]] = [[] for _ in range(n)]
    load = [0] * n
    for rows, f in sizes:
        i = load.index(min(load))
        shares[i].append(f)
        load[i] += rows
    return shares


def _sum_rows(parts: list[dict]) -> dict[str, int]:
    return {s: int(sum(p[s] for p in parts)) for s in TRAIN_SPLITS}


def _start_workers(files: list[str], featurizers: list, level: str, available: list[str], local: bool,
                   workers: int | None) -> Workers:
    n = 1
    if not local:
        ensure_ray()
        n = min(pool_size(workers), len(files))
    return Workers(FeatureWorker, (columns_for(featurizers, available), level), n=n, local=local)


def _deep_setup(detector: Any, settings: TrainSettings, featurizers: list) -> dict | None:
    """Torch detectors: the ``torch:`` options and ``init_from`` (vocabulary union + warm start,
    applied to the fitted featurizers); None for the other detectors."""
    if not getattr(detector, "distributed", False):
        if settings.torch.init_from or settings.torch.replay:
            raise InputError(f"{detector.name}: --init-from and --replay apply to torch models only")
        return None
    from logad.ray.train_torch import init_from, torch_options, wants_ray_train

    opts = torch_options({"torch": settings.torch_options()})
    if opts["init_from"]:
        featurizers, (state, n_old) = init_from(featurizers, opts["init_from"])
        detector.warm_start(state, n_old)
    return {"featurizers": featurizers, "options": opts, "ray_train": wants_ray_train(detector, opts)}


def _with_replay(model: TrainedModel, X_tr: Any, y_tr: np.ndarray, spec: str, detector: Any
                 ) -> tuple[Any, np.ndarray]:
    """The training rows plus the ``--replay DIR:RATIO`` sessions of another corpus, featurized
    with this model's (already fitted) featurizers."""
    from logad.models.trained import featurize
    from logad.ray.train_torch import replay_rows

    other = replay_rows(n_rows(X_tr), spec, seed=int(getattr(detector, "random_state", 0) or 0))
    X_rep, _, _ = featurize(model.featurizers, other)
    y_rep = _labels(other.select(["label"]))
    X = list(X_tr) + list(X_rep) if isinstance(X_tr, list) else sp.vstack([X_tr, X_rep], format="csr")
    return X, np.concatenate([y_tr, y_rep])


def run_train(model_name: str, sequences: str | Path, out_dir: str | Path,
              cfg: TrainSettings | dict | None = None) -> dict:
    """Train ``model_name`` (a key of ``logad.models.registry.MODELS``) and save it to ``out_dir``.

    ``cfg``: the resolved :class:`~logad.settings.TrainSettings` (a dict is taken as values over
    ``configs/train.yaml`` and validated at once). Returns a summary with the threshold, how it
    was chosen, validation metrics and timings; the same summary goes into ``model.yml`` under
    ``extra``.
    """
    remote = looks_remote(out_dir)
    if remote:  # a model folder on object storage: trained here, then published
        out_dir = as_folder(out_dir)
    settings = coerce(TrainSettings, cfg)
    cfg = settings.dump()
    spec = get_model(model_name)
    models_cfg = settings.models_config()
    timer = Timer()
    parts = sequences_parts(as_folder(sequences))  # every footer read once, here
    files = [str(p.path) for p in parts]
    features_cfg = settings.features_config()
    params = build_detector(spec, models_cfg, settings.params).get_params()
    data = _fingerprint(parts)
    # the code is part of what makes a model: a fix in it (git commit) retrains
    key = stage_key(files, settings, spec.name, features_cfg, params, git_commit())
    done = _finished(out_dir, key)
    if done is not None:
        log.info("%s: %s already trained on these sessions with this config; skipping", out_dir, spec.name)
        return {**done, "skipped": True}
    scratch = Path(tempfile.mkdtemp(prefix="logad-train-")) if remote else None
    try:
        return _train(spec, settings, cfg, sequences, parts, files, out_dir, key, data, timer, scratch)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(spec: Any, settings: TrainSettings, cfg: dict, sequences: str | Path, parts: list[Part],
           files: list[str], out_dir: str | Path, key: str, data: dict, timer: Timer,
           scratch: Path | None) -> dict:
    """Fit, choose the threshold, save (the body of :func:`run_train` after its skip check)."""
    models_cfg = settings.models_config()
    features_cfg = settings.features_config()
    n_sessions = sum(p.rows for p in parts)
    local = in_process(n_sessions, settings.ray.in_process_below)
    detector = build_detector(spec, models_cfg, settings.params)
    featurizers = [make_featurizer_from_config(kind, features_cfg, level=spec.level)
                   for kind in spec.feature_kinds]
    model = TrainedModel(spec, featurizers, detector)
    with timer("start_workers"):
        schema = parts[0].schema
        require_columns(schema, ["session_id", "label", "event_ids", "split"], "sequences")
        workers = _start_workers(files, featurizers, spec.level, schema.names, local, settings.workers)
        n_workers = workers.size
        workers.each("ready")
    with timer("read"):
        rows = _sum_rows(workers.scatter("load", _share_files(parts, n_workers)))
    try:
        with timer("vocab"):
            per_worker = workers.each("counts", featurizers)
            for i, f in enumerate(featurizers):
                fit_from_tables(f, [tables[i] for tables in per_worker], "train")
        deep = _deep_setup(detector, settings, featurizers)  # torch models: init-from, replay
        if deep is not None:
            featurizers = deep["featurizers"]
            model = TrainedModel(spec, featurizers, detector)
        with timer("featurize"):
            pieces = workers.each("transform", featurizers)
    finally:
        workers.close()
    if rows["train"] == 0:
        raise InputError(f"{sequences}: no sessions in the train split")
    with timer("featurize"):
        names = _feature_names(featurizers)
        X_tr, idx_tr, unk = stack_pieces([p["train"] for p in pieces], len(names))
        X_val, idx_val, unk_val = stack_pieces([p["val"] for p in pieces], len(names))
        y_tr, unk_tr = _labels(idx_tr), int(unk.sum())
        if deep is not None and deep["options"]["replay"]:
            X_tr, y_tr = _with_replay(model, X_tr, y_tr, deep["options"]["replay"], detector)
    known = y_tr >= 0
    if detector.supervised and not known.all():
        log.warning("train: %d rows without a label are left out of supervised training",
                    int((~known).sum()))
        X_tr, y_tr = select_rows(X_tr, known), y_tr[known]
    elif detector.fit_on == "normal" and (y_tr == 1).any():
        log.info("train: %s learns what normal looks like: %d anomalous train rows left out",
                 spec.detector, int((y_tr == 1).sum()))
        X_tr, y_tr = select_rows(X_tr, y_tr != 1), y_tr[y_tr != 1]
    with timer("fit"):
        if deep is not None and deep["ray_train"]:
            from logad.ray.train_torch import fit_distributed

            fit_distributed(detector, X_tr, y_tr if detector.supervised else None, feature_names=names,
                            run_dir=_train_run_dir(out_dir, spec.name, deep["options"].get("storage_path")),
                            cfg=deep["options"])
        else:
            detector.fit(X_tr, y_tr if detector.supervised else None, feature_names=names)
    th_cfg = settings.threshold
    method = th_cfg.method
    val_metrics: dict[str, Any] = {}
    tuned = None
    if rows["val"]:
        with timer("threshold"):
            tuned = _tune_on_validation(detector, X_val, idx_val, method, th_cfg)
            # the threshold is chosen on what scoring reports: one score a session (event-level
            # models: the highest line), so a line-level optimum never decides a session's flag
            s_val, y_val = _session_scores(model, X_val, idx_val, unk_val)
            if method != "none" and len(y_val):
                usable = method != "best_f1" or len(np.unique(y_val)) == 2
                if usable:
                    threshold, sweep = choose_threshold(s_val, y_val, method, q=th_cfg.q,
                                                        alpha=th_cfg.alpha)
                    detector.set_threshold(threshold, method=f"{method} on validation", sweep=sweep)
                else:
                    log.warning("threshold: validation has one class only; keeping %s",
                                detector.threshold_method_)
        if len(y_val):
            val_metrics = compute_metrics(y_val, s_val, detector.threshold_)
    elif method != "none":
        log.warning("threshold: no validation split; keeping %s", detector.threshold_method_)
    summary = {
        "model": spec.name, "detector": spec.detector, "features": spec.features, "level": spec.level,
        "threshold": float(detector.threshold_), "threshold_method": detector.threshold_method_,
        "n_features": int(detector.n_features_in_), "train_rows": n_rows(X_tr),
        "train_unknown_tokens": unk_tr, "train_anomalous": int((y_tr == 1).sum()),
        "validation": val_metrics, **({"tuned": tuned} if tuned is not None else {}),
        "seconds": timer.seconds,
        "data": {**data, "rows": rows}, "in_process": local, "workers": n_workers,
        "config": cfg, "train_key": key,
        **({"ray_train": detector.run_info_} if hasattr(detector, "run_info_") else {}),
    }
    _save(model, out_dir, summary, scratch)
    return summary
