"""``logad validate`` and ``logad compare-models``: a model's quality as a 0–100 score with the
reasons, and two models side by side on the same sessions.

The score adds three parts: validation quality (up to 60: PR-AUC on the labelled validation
split, or ROC-AUC scaled when PR-AUC is missing), calibration (up to 20: expected calibration
error of probability-like scores on the given sessions' labels) and drift (up to 20: PSI of the
given sessions' scores against the training scores the model kept). A part that cannot be
measured gets half its points and says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logad.evaluate.metrics import compute_metrics, psi
from logad.models.folder import read_model_yml
from logad.models.trained import TrainedModel
from logad.scoring.parts import model_version, score_models_batch

__all__ = ["expected_calibration_error", "quality_score", "run_validate", "run_compare_models"]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate − mean predicted probability| over equal-width bins, weighted by size."""
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(err)


def quality_score(meta: dict, y: np.ndarray | None = None, s: np.ndarray | None = None) -> dict:
    """0–100 and the reasons, from ``model.yml`` and optionally labels/scores of fresh sessions."""
    reasons, total = [], 0.0
    val = (meta.get("extra") or {}).get("validation") or {}
    if val.get("pr_auc") is not None:
        pts = 60 * float(val["pr_auc"])
        reasons.append(f"validation PR-AUC {val['pr_auc']:.3f}: {pts:.0f}/60")
    elif val.get("roc_auc") is not None:
        pts = 60 * max(0.0, 2 * float(val["roc_auc"]) - 1)
        reasons.append(f"validation ROC-AUC {val['roc_auc']:.3f} (no PR-AUC): {pts:.0f}/60")
    else:
        pts = 30.0
        reasons.append("no labelled validation metrics in model.yml: 30/60")
    total += pts
    probabilistic = s is not None and len(s) and float(np.min(s)) >= 0 and float(np.max(s)) <= 1
    if y is not None and len(y) and probabilistic:
        ece = expected_calibration_error(y, s)
        pts = 20 * max(0.0, 1 - ece / 0.25)
        reasons.append(f"calibration: ECE {ece:.3f} on {len(y)} labelled sessions: {pts:.0f}/20")
    else:
        pts = 10.0
        reasons.append("calibration not measured (no labelled sessions given, or scores are not "
                       "probabilities): 10/20")
    total += pts
    ref = meta.get("score_reference")
    if s is not None and len(s) and ref:
        d = psi(ref, s)
        pts = 20.0 if d < 0.1 else 10.0 if d < 0.25 else 0.0
        reasons.append(f"drift: PSI {d:.3f} of the given sessions against training ({'stable' if d < 0.1 else 'moderate' if d < 0.25 else 'large'}): {pts:.0f}/20")
    else:
        pts = 10.0
        reasons.append("drift not measured (pass --input sessions): 10/20")
    total += pts
    return {"score": round(total, 1), "reasons": reasons}


def _score_table(dirs: Sequence[str | Path], sequences: str | Path, split: str | None) -> tuple[list, pa.Table]:
    from logad.io import sequences_files
    import pyarrow.dataset as pads

    files = sequences_files(sequences)
    ds = pads.dataset(files, format="parquet")
    t = ds.to_table(filter=(pads.field("split") == split) if split else None)
    models = [(TrainedModel.load(d), model_version(d)) for d in dirs]
    return models, score_models_batch(models, t)


def run_validate(model_dir: str | Path, sequences: str | Path | None = None, split: str = "test") -> dict:
    """The quality score of one model (scored in this process on ``split`` of ``sequences``)."""
    meta = read_model_yml(model_dir)
    y = s = None
    if sequences is not None:
        _, rows = _score_table([model_dir], sequences, split)
        s = rows.column("score").to_numpy()
        lab = rows.column("label").to_numpy(zero_copy_only=False).astype(float)
        known = ~np.isnan(lab)
        y = lab[known].astype(int) if known.any() else None
        r = quality_score(meta, y, s[known] if y is not None else None)
        if y is None:
            r = quality_score(meta, None, s)
    else:
        r = quality_score(meta)
    return {"model": (meta.get("extra") or {}).get("model"), "model_dir": str(model_dir), **r}


def run_compare_models(a: str | Path, b: str | Path, sequences: str | Path, split: str = "test") -> dict:
    """Both models scored on the same sessions: metrics side by side and how far they agree."""
    models, rows = _score_table([a, b], sequences, split)
    out = {"split": split, "models": []}
    flagged = []
    for m, _ in models:
        t = rows.filter(pc.equal(rows.column("model"), m.spec.name))
        t = t.take(pc.sort_indices(t, sort_keys=[("session_id", "ascending")]))
        lab = t.column("label").to_numpy(zero_copy_only=False).astype(float)
        known = ~np.isnan(lab)
        s = t.column("score").to_numpy()
        met = compute_metrics(lab[known].astype(int) if known.any() else None, s[known] if known.any() else s,
                              float(m.detector.threshold_))
        out["models"].append({"model": m.spec.name, **{k: met.get(k) for k in
                              ("n", "precision", "recall", "f1", "roc_auc", "pr_auc", "fpr")}})
        flagged.append(set(pc.filter(t.column("session_id"), pc.equal(t.column("is_anomaly"), 1)).to_pylist()))
    both, either = flagged[0] & flagged[1], flagged[0] | flagged[1]
    out["agreement"] = {"flagged_by_both": len(both), "only_first": len(flagged[0] - flagged[1]),
                        "only_second": len(flagged[1] - flagged[0]),
                        "jaccard": len(both) / len(either) if either else 1.0}
    return out
