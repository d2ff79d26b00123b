"""Train runner: a named model on a ``sequences`` folder, into a model folder.

Vocabularies are counted over the training split on Ray Data (partial counts per block, merged on
the driver, identical to a one-process fit); the classical detectors then fit on one node. The
threshold is chosen on the validation split only (``threshold.method``: best_f1, percentile, fpr,
or none to keep the contamination threshold); the sweep is saved as ``threshold_sweep.csv``.
The test split is never read here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logad import __version__
from logad.config import deep_merge, load_yaml
from logad.errors import InputError, ModelError
from logad.evaluate.metrics import compute_metrics
from logad.features import make_featurizer_from_config
from logad.io import Timer
from logad.models._checks import n_rows, select_rows
from logad.models.folder import git_commit, read_model_yml
from logad.models.registry import build_detector, get_model, load_models_config
from logad.models.thresholds import choose_threshold
from logad.models.trained import TrainedModel, featurize, labels_of
from logad.ray.runtime import ensure_ray
from logad.scoring import aggregate_to_sessions, score_batch
from logad.schema import require_columns

__all__ = ["run_train", "read_split", "sequences_files", "DEFAULTS"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "threshold": {"method": "best_f1", "q": 99.0, "alpha": 0.01},
    "features": {},
    "params": {},
}


def sequences_files(path: str | Path) -> list[str]:
    """The Parquet files of a sequences folder (``<dir>/sequences/*.parquet`` or ``<dir>/*.parquet``)."""
    p = Path(path)
    if p.is_file():
        return [str(p)]
    for d in (p / "sequences", p):
        files = sorted(str(f) for f in d.glob("*.parquet") if f.name != "split.parquet")
        if files:
            return files
    raise InputError(f"{path}: no sequences Parquet files found; run `logad sessionize` first")


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


def _fingerprint(files: list[str]) -> dict[str, Any]:
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        meta = pq.read_metadata(f)
        h.update(f"{Path(f).name}:{meta.num_rows}:{Path(f).stat().st_size}".encode())
    return {"paths": files, "hash": h.hexdigest()}


def _train_key(*parts: Any) -> str:
    """What makes a trained model: model name, data hash, configs, parameters, and the code
    (logad version and git commit), so a fix in the code retrains."""
    doc = json.dumps([*parts, __version__, git_commit()], sort_keys=True, default=str)
    return hashlib.blake2b(doc.encode(), digest_size=16).hexdigest()


def _finished(out_dir: str | Path, key: str) -> dict | None:
    """The summary of a model folder trained with the same key, else None (re-train)."""
    try:
        extra = read_model_yml(out_dir).get("extra") or {}
    except ModelError:
        return None
    return extra if extra.get("train_key") == key else None


def _session_scores(model: TrainedModel, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Session scores and labels of ``table``, exactly as ``logad score`` computes them."""
    sessions = aggregate_to_sessions(score_batch(model, table), model.detector.threshold_)
    labels = sessions.column("label").to_numpy(zero_copy_only=False).astype(float)
    known = ~np.isnan(labels)
    return sessions.column("score").to_numpy()[known], labels[known].astype(np.int64)


def _xy(model: TrainedModel, table: pa.Table) -> tuple[Any, np.ndarray, int, list[str]]:
    X, names, unknown = featurize(model.featurizers, table)
    return X, labels_of(table, model.spec.level), int(unknown.sum()), names


def _deep_setup(detector: Any, cfg: dict, featurizers: list, train: pa.Table) -> dict | None:
    """Torch detectors: the ``torch:`` options, ``init_from`` (vocabulary union + warm start),
    ``replay`` (sessions of another corpus); None for the other detectors."""
    if not getattr(detector, "distributed", False):
        if (cfg.get("torch") or {}).get("init_from") or (cfg.get("torch") or {}).get("replay"):
            raise InputError(f"{detector.name}: --init-from and --replay apply to torch models only")
        return None
    from logad.ray.train_torch import init_from, replay_rows, torch_options, wants_ray_train

    opts = torch_options(cfg)
    if opts["init_from"]:
        featurizers, (state, n_old) = init_from(featurizers, opts["init_from"])
        detector.warm_start(state, n_old)
    if opts["replay"]:
        train = replay_rows(train, opts["replay"], seed=int(getattr(detector, "random_state", 0) or 0))
    return {"featurizers": featurizers, "train": train, "options": opts,
            "ray_train": wants_ray_train(detector, opts)}


def run_train(model_name: str, sequences: str | Path, out_dir: str | Path, cfg: dict | None = None) -> dict:
    """Train ``model_name`` (a key of ``logad.models.registry.MODELS``) and save it to ``out_dir``.

    Returns a summary with the threshold, how it was chosen, validation metrics and timings;
    the same summary goes into ``model.yml`` under ``extra``.
    """
    cfg = deep_merge(DEFAULTS, cfg or {})
    spec = get_model(model_name)
    models_cfg = load_models_config()
    timer = Timer()
    files = sequences_files(sequences)
    features_cfg = deep_merge(load_yaml("features.yaml"), cfg.get("features") or {})
    params = build_detector(spec, models_cfg, cfg.get("params") or {}).get_params()
    data = _fingerprint(files)
    key = _train_key(spec.name, data["hash"], cfg, features_cfg, params)
    done = _finished(out_dir, key)
    if done is not None:
        log.info("%s: %s already trained on these sessions with this config; skipping", out_dir, spec.name)
        return {**done, "skipped": True}
    ensure_ray()
    import ray

    with timer("vocab"):
        require_columns(pq.read_schema(files[0]), ["session_id", "label", "event_ids", "split"], "sequences")
        ds = ray.data.read_parquet(files)
        from logad.ray.features import fit_featurizer_distributed

        featurizers = []
        for kind in spec.feature_kinds:
            f = make_featurizer_from_config(kind, features_cfg, level=spec.level)
            featurizers.append(fit_featurizer_distributed(ds, f))
    with timer("load"):
        train = read_split(files, "train")
        val = read_split(files, "val")
    if train.num_rows == 0:
        raise InputError(f"{sequences}: no sessions in the train split")
    detector = build_detector(spec, models_cfg, cfg.get("params") or {})
    deep = _deep_setup(detector, cfg, featurizers, train)  # torch models: init-from, replay
    if deep is not None:
        featurizers, train = deep["featurizers"], deep["train"]
    model = TrainedModel(spec, featurizers, detector)
    with timer("featurize"):
        X_tr, y_tr, unk_tr, names = _xy(model, train)
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
                            run_dir=Path(f"{out_dir}.train") / spec.name, cfg=deep["options"])
        else:
            detector.fit(X_tr, y_tr if detector.supervised else None, feature_names=names)
    method = (cfg.get("threshold") or {}).get("method", "best_f1")
    val_metrics: dict[str, Any] = {}
    if val.num_rows:
        with timer("threshold"):
            # the threshold is chosen on what scoring reports: one score a session (event-level
            # models: the highest line), so a line-level optimum never decides a session's flag
            s_val, y_val = _session_scores(model, val)
            if method != "none" and len(y_val):
                usable = method != "best_f1" or len(np.unique(y_val)) == 2
                if usable:
                    th_cfg = cfg["threshold"]
                    threshold, sweep = choose_threshold(s_val, y_val, method, q=th_cfg.get("q", 99.0),
                                                        alpha=th_cfg.get("alpha", 0.01))
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
        "validation": val_metrics, "seconds": timer.seconds,
        "data": {**data, "rows": {"train": int(train.num_rows), "val": int(val.num_rows)}},
        "config": cfg, "train_key": key,
        **({"ray_train": detector.run_info_} if hasattr(detector, "run_info_") else {}),
    }
    model.save(out_dir, extra=summary)
    return summary
