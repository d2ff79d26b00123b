"""Evaluation metrics over labels and anomaly scores (pure NumPy; higher score = more anomalous).

A row is predicted anomalous when ``score > threshold`` (the detectors' rule).

* Threshold metrics: confusion matrix, precision, recall, F1, false-positive rate.
* Ranking metrics (no threshold): ROC-AUC (Mann-Whitney, ties count one half), PR-AUC as
  average precision (sklearn's step definition, no interpolation), precision@k (the k highest
  scores; ties broken by row order).
* Recall at a fixed false-positive rate α ("FPR at α"): the threshold is the lowest cut whose
  FPR on *these* normals is at most α (:func:`threshold_at_fpr`), and the metric is the recall
  there, i.e. the ROC curve read conservatively at x = α. Because the cut is taken on the
  evaluated rows it compares rankings, it is not an operating point; the operating point is the
  model's threshold, chosen on validation (:mod:`logad.models.thresholds`).
* Drift: the population stability index (PSI) between the training-score distribution and the
  scored one, in bins at the training scores' quantiles (:func:`psi_reference`). Rule of thumb:
  < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.

Undefined values (e.g. ROC-AUC with one class) are NaN in the functions; :func:`compute_metrics`
turns them into None (JSON null) and adds a note saying why.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
from scipy.stats import rankdata

# defined beside the models (a model stores its reference and picks cuts with them); re-exported
from logad.models.reference import psi_reference, threshold_at_fpr

__all__ = ["confusion", "precision_recall_f1", "false_positive_rate", "roc_auc",
           "average_precision", "precision_at_k", "threshold_at_fpr", "recall_at_fpr",
           "psi_reference", "psi", "compute_metrics"]


def _arrays(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y has {y.size} labels for {s.size} scores")
    return y, s


def confusion(y: Any, y_pred: Any) -> dict[str, int]:
    """Counts ``{"tn", "fp", "fn", "tp"}`` for 0/1 labels and predictions.

    Examples
    --------
    >>> confusion([0, 0, 1, 1], [0, 1, 1, 0])
    {'tn': 1, 'fp': 1, 'fn': 1, 'tp': 1}
    """
    y, p = _arrays(y, y_pred)
    p = p.astype(np.int64)
    return {"tn": int(((y == 0) & (p == 0)).sum()), "fp": int(((y == 0) & (p == 1)).sum()),
            "fn": int(((y == 1) & (p == 0)).sum()), "tp": int(((y == 1) & (p == 1)).sum())}


def precision_recall_f1(y: Any, scores: Any, threshold: float) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``score > threshold``; 0.0 where a ratio has no denominator."""
    y, s = _arrays(y, scores)
    c = confusion(y, s > threshold)
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return float(precision), float(recall), float(f1)


def false_positive_rate(y: Any, scores: Any, threshold: float) -> float:
    """Share of normal rows (y = 0) with ``score > threshold``; NaN without normals."""
    y, s = _arrays(y, scores)
    normals = s[y == 0]
    return float((normals > threshold).mean()) if normals.size else math.nan


def roc_auc(y: Any, scores: Any) -> float:
    """Area under the ROC curve; NaN unless both classes are present.

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _arrays(y, scores)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def average_precision(y: Any, scores: Any) -> float:
    """PR-AUC as average precision: sum over distinct thresholds of (R_n - R_{n-1}) * P_n.

    NaN without anomalous rows. Matches ``sklearn.metrics.average_precision_score``.
    """
    y, s = _arrays(y, scores)
    n1 = int(y.sum())
    if n1 == 0:
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]  # end of each run of equal scores
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / n1
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_at_k(y: Any, scores: Any, k: int) -> float:
    """Share of anomalies among the ``k`` highest scores (ties by row order); NaN if k < 1."""
    y, s = _arrays(y, scores)
    k = min(int(k), s.size)
    if k < 1:
        return math.nan
    top = np.argsort(-s, kind="mergesort")[:k]
    return float(y[top].mean())


def recall_at_fpr(y: Any, scores: Any, alpha: float) -> dict[str, float]:
    """Recall at the cut of :func:`threshold_at_fpr` on the normals of ``y``.

    Returns ``{"alpha", "threshold", "fpr", "recall"}`` (NaN where a class is missing).
    """
    y, s = _arrays(y, scores)
    thr = threshold_at_fpr(s[y == 0], alpha)
    pos = s[y == 1]
    recall = float((pos > thr).mean()) if pos.size and not math.isnan(thr) else math.nan
    fpr = float((s[y == 0] > thr).mean()) if (y == 0).any() else math.nan
    return {"alpha": float(alpha), "threshold": thr, "fpr": fpr, "recall": recall}


def psi(reference: Any, scores: Any, *, n_bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``scores`` against a training reference.

    Parameters
    ----------
    reference : array-like of training scores, or the dict of :func:`psi_reference`
        (e.g. a model's ``score_reference_``).
    scores : array-like
        The scored distribution.
    n_bins : int, default 10
        Quantile bins when ``reference`` is raw scores.
    eps : float, default 1e-4
        Floor for empty bins, so that the logarithm stays finite.

    Returns
    -------
    float
        ``sum((a - e) * ln(a / e))`` over bins; 0 for identical distributions.
    """
    ref = reference if isinstance(reference, Mapping) else psi_reference(reference, n_bins)
    edges = np.asarray(ref["edges"], dtype=np.float64)
    expected = np.asarray(ref["proportions"], dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        return math.nan
    actual = np.bincount(np.searchsorted(edges, s, side="left"), minlength=edges.size + 1) / s.size
    e, a = np.clip(expected, eps, None), np.clip(actual, eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def compute_metrics(y: Any, scores: Any, threshold: float, train_scores: Any = None, *,
                    k: int | Iterable[int] | None = None,
                    alphas: Iterable[float] = (0.001, 0.01, 0.05)) -> dict[str, Any]:
    """All metrics of one scored split as a JSON-ready dict.

    Parameters
    ----------
    y : array-like of shape (n,) or None
        0/1 labels; None (unlabelled data) gives only score statistics and drift.
    scores : array-like of shape (n,)
        Higher = more anomalous.
    threshold : float
        ``score > threshold`` is flagged.
    train_scores : array-like or dict, optional
        Training scores or a model's ``score_reference_``; adds ``psi``.
    k : int or list of int, optional
        Adds ``precision_at_<k>`` for each; ``r_precision`` (k = the number of anomalies) is
        always there.
    alphas : iterable of float
        FPR levels for ``recall_at_fpr_<alpha>``.

    Returns
    -------
    dict
        ``n, n_anomalous, n_normal, threshold, n_flagged, tn, fp, fn, tp, precision, recall, f1,
        fpr, roc_auc, pr_auc, r_precision, precision_at_<k>..., recall_at_fpr_<alpha>...,
        score_quantiles, psi, notes``.
        Undefined values are None and explained in ``notes``.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    notes: list[str] = []
    out: dict[str, Any] = {"n": int(s.size), "threshold": float(threshold),
                           "n_flagged": int((s > threshold).sum())}
    if y is not None:
        y, s = _arrays(y, s)
        n1 = int(y.sum())
        out.update({"n_anomalous": n1, "n_normal": int(y.size - n1)})
        out.update(confusion(y, s > threshold))
        p, r, f = precision_recall_f1(y, s, threshold)
        out.update({"precision": p, "recall": r, "f1": f,
                    "fpr": false_positive_rate(y, s, threshold),
                    "roc_auc": roc_auc(y, s), "pr_auc": average_precision(y, s)})
        if out["n_flagged"] == 0:
            notes.append("no row is above the threshold: precision is set to 0")
        if n1 == 0 or n1 == y.size:
            only = "anomalous" if n1 else "normal"
            # with only anomalous rows average precision is 1.0 whatever the scores: no measure
            out["pr_auc"] = None
            notes.append(f"labels hold only {only} rows: roc_auc and pr_auc (and recall or fpr) "
                         "are undefined")
        out["r_precision"] = precision_at_k(y, s, n1)
        for kk in ([] if k is None else [k] if isinstance(k, int) else list(k)):
            out[f"precision_at_{kk}"] = precision_at_k(y, s, kk)
        for alpha in alphas:
            out[f"recall_at_fpr_{alpha:g}"] = recall_at_fpr(y, s, alpha)["recall"]
    else:
        notes.append("no labels: only score statistics and drift")
    if s.size:
        out["score_quantiles"] = {f"q{q}": float(np.quantile(s, q / 100))
                                  for q in (0, 1, 5, 25, 50, 75, 95, 99, 100)}
    if train_scores is not None:
        out["psi"] = psi(train_scores, s)
    out["notes"] = notes
    return _clean(out)
