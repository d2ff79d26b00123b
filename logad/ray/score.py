"""Score runner: a model folder + ``sequences`` → ``scores.parquet``, over a Ray actor pool.

Each actor loads the model folder once (``__init__``) and scores the batches it is given, so a
big corpus is scored by as many actors as the cluster holds. Scores of a row do not depend on the
batch it lands in; the result is sorted by session id, so it does not depend on the number of
actors or blocks either.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from logad import __version__
from logad.io import write_json, write_parquet, write_yaml
from logad.models.trained import TrainedModel
from logad.ray.runtime import ensure_ray
from logad.ray.train import sequences_files
from logad.scoring import SCORES_SCHEMA, aggregate_to_sessions, score_batch

__all__ = ["run_score", "ModelScorer", "DEFAULTS"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"actors": None, "batch_size": 2048, "split": None}


def _pool_size(requested: int | None) -> tuple[int, int]:
    """Autoscaling pool bounds: one CPU stays free for the read tasks that feed the actors."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    most = max(1, cpus - 1)
    if requested:
        most = max(1, min(int(requested), most))
    return 1, most


class ModelScorer:
    """Ray Data callable class: loads the model once per actor, scores pyarrow batches."""

    def __init__(self, model_dir: str) -> None:
        self.model = TrainedModel.load(model_dir)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return score_batch(self.model, batch)


def run_score(model_dir: str | Path, sequences: str | Path, out_dir: str | Path,
              cfg: dict | None = None) -> dict:
    """Score every session of ``sequences`` (or one ``split``) with the model in ``model_dir``."""
    from logad.config import deep_merge

    cfg = deep_merge(DEFAULTS, cfg or {})
    t0 = time.perf_counter()
    model = TrainedModel.load(model_dir)  # fail fast, with the folder's own message
    files = sequences_files(sequences)
    ensure_ray()
    import ray

    ds = ray.data.read_parquet(files)
    if cfg.get("split"):
        ds = ds.filter(expr=f"split == '{cfg['split']}'")
    lo, hi = _pool_size(cfg.get("actors"))
    rows = ds.map_batches(ModelScorer, fn_constructor_args=(str(model_dir),), batch_format="pyarrow",
                          batch_size=int(cfg["batch_size"]),
                          compute=ray.data.ActorPoolStrategy(min_size=lo, max_size=hi))
    tables = [t for t in ray.get(rows.to_arrow_refs()) if t.num_rows]
    table = pa.concat_tables(tables) if tables else None
    scores = aggregate_to_sessions(table, model.detector.threshold_) if table is not None \
        else SCORES_SCHEMA.empty_table()
    out = Path(out_dir)
    write_parquet(scores, out / "scores.parquet")
    n_flagged = int(pc.sum(scores.column("is_anomaly")).as_py() or 0) if scores.num_rows else 0
    manifest = {
        "stage": "score", "logad_version": __version__, "model_dir": str(model_dir),
        "model": model.spec.name, "inputs": files, "sessions": scores.num_rows,
        "feature_rows": 0 if table is None else table.num_rows, "flagged": n_flagged,
        "threshold": model.detector.threshold_,
        "unknown_tokens": int(pc.sum(scores.column("n_unknown")).as_py() or 0) if scores.num_rows else 0,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_yaml(cfg, out / "score_config.yaml")
    write_json(manifest, out / "manifest.json")
    return manifest
