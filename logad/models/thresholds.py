"""Decision thresholds: one rule at fit time, three rules on validation data.

A detector flags a row when ``score > threshold`` (scores: higher = more anomalous).

* :func:`contamination_threshold` is the one shared rule every detector applies at fit time: the
  ``1 - contamination`` quantile of the training (or holdout) scores.
* :func:`choose_threshold` overrides it from a **validation** split, never the test split: its
  arguments are validation scores and labels only.

  ``"best_f1"``     the threshold that maximises F1 on validation (needs both classes);
  ``"percentile"``  the ``q``-th percentile of the validation normals' scores (``q=99`` flags
                    about 1 % of normals);
  ``"fpr"``         the lowest threshold whose false-positive rate on the validation normals is
                    at most ``alpha`` (at most ``floor(alpha * n_normals)`` normals are above it).

Every method also returns the sweep table (threshold, n_flagged, tp, fp, precision, recall,
f1, fpr) that ``Detector.save`` writes as ``threshold_sweep.csv``.

:func:`choose_variant` picks, on the same validation split, among variants of a detector's score
(LogBERT: with or without its hypersphere radius) the one whose F1 at its own chosen threshold is
highest.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from logad.errors import ConfigError, InputError
from logad.models.reference import threshold_at_fpr

__all__ = ["THRESHOLD_METHODS", "contamination_threshold", "threshold_sweep", "choose_threshold",
           "tune_threshold", "choose_variant"]

log = logging.getLogger(__name__)

THRESHOLD_METHODS = ("best_f1", "percentile", "fpr")
SWEEP_COLUMNS = ["threshold", "n_flagged", "tp", "fp", "precision", "recall", "f1", "fpr"]


def contamination_threshold(train_scores: np.ndarray, contamination: float) -> float:
    """The ``1 - contamination`` quantile of ``train_scores`` (linear interpolation).

    Parameters
    ----------
    train_scores : ndarray of shape (n_samples,)
        Scores of the training (or holdout) rows; higher = more anomalous.
    contamination : float in (0, 0.5]
        Expected share of anomalies; about that share of training rows end above the threshold.

    Returns
    -------
    float

    Examples
    --------
    >>> contamination_threshold(np.arange(11.0), 0.1)
    9.0
    """
    scores = np.asarray(train_scores, dtype=np.float64)
    if scores.size == 0:
        raise InputError("cannot set a threshold from zero training scores")
    return float(np.quantile(scores, 1.0 - float(contamination)))


def _check_val(scores_val: Any, y_val: Any) -> tuple[np.ndarray, np.ndarray | None]:
    s = np.asarray(scores_val, dtype=np.float64).ravel()
    if s.size == 0:
        raise InputError("validation scores are empty")
    if not np.all(np.isfinite(s)):
        raise InputError("validation scores contain NaN or infinite values")
    if y_val is None:
        return s, None
    y = np.asarray(y_val).ravel()
    if y.shape != s.shape:
        raise InputError(f"y_val has {y.size} labels for {s.size} validation scores")
    if not np.isin(y, (0, 1)).all():
        raise InputError("y_val must hold only 0 (normal) and 1 (anomalous)")
    return s, y.astype(np.int64)


def _candidates(unique: np.ndarray) -> np.ndarray:
    """Thresholds between consecutive unique scores: one below all, midpoints, and the maximum.

    Candidate ``j`` flags exactly the rows scoring at least ``unique[j]`` (none for the last).
    """
    lo = np.nextafter(unique[0], -np.inf)
    mids = unique[:-1] + (unique[1:] - unique[:-1]) / 2.0
    bad = mids >= unique[1:]  # adjacent floats: fall back to the lower value
    mids[bad] = unique[:-1][bad]
    return np.concatenate([[lo], mids, [unique[-1]]])


def threshold_sweep(scores_val: Any, y_val: Any) -> pd.DataFrame:
    """Precision, recall, F1 and FPR for every distinct cut of the validation scores.

    Parameters
    ----------
    scores_val : array-like of shape (n,)
        Validation scores, higher = more anomalous.
    y_val : array-like of shape (n,) or None
        0/1 labels; None treats every row as normal.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold, n_flagged, tp, fp, precision, recall, f1, fpr``, thresholds
        ascending; a row flags ``score > threshold``. Undefined ratios are NaN.
    """
    s, y = _check_val(scores_val, y_val)
    if y is None:
        y = np.zeros(s.size, dtype=np.int64)
    unique, inv = np.unique(s, return_inverse=True)
    pos = np.bincount(inv, weights=y, minlength=unique.size)
    neg = np.bincount(inv, weights=1 - y, minlength=unique.size)
    # flagged by candidate j = rows with unique index >= j  (suffix sums, plus a final zero)
    tp = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])
    fp = np.concatenate([np.cumsum(neg[::-1])[::-1], [0.0]])
    n_pos, n_neg = pos.sum(), neg.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = tp / n_pos if n_pos else np.full(tp.size, np.nan)
        f1 = 2 * tp / (2 * tp + fp + (n_pos - tp)) if n_pos else np.full(tp.size, np.nan)
        fpr = fp / n_neg if n_neg else np.full(tp.size, np.nan)
    return pd.DataFrame({"threshold": _candidates(unique), "n_flagged": (tp + fp).astype(np.int64),
                         "tp": tp.astype(np.int64), "fp": fp.astype(np.int64),
                         "precision": precision, "recall": recall, "f1": f1, "fpr": fpr},
                        columns=SWEEP_COLUMNS)


def _thin(sweep: pd.DataFrame, keep: int, max_rows: int | None) -> pd.DataFrame:
    if max_rows is None or len(sweep) <= max_rows:
        return sweep
    idx = np.unique(np.concatenate([np.linspace(0, len(sweep) - 1, max_rows).round().astype(int),
                                    [keep]]))
    return sweep.iloc[idx].reset_index(drop=True)


def choose_threshold(scores_val: Any, y_val: Any, method: str = "best_f1", *,
                     q: float = 99.0, alpha: float = 0.01,
                     max_rows: int | None = 5000) -> tuple[float, pd.DataFrame]:
    """Pick a threshold from validation scores only (never pass test data here).

    Parameters
    ----------
    scores_val : array-like of shape (n,)
        Detector scores of the validation rows, higher = more anomalous.
    y_val : array-like of shape (n,) or None
        Validation labels (0 normal, 1 anomalous). ``"best_f1"`` needs both classes; the other
        methods use only the normals and accept None (all rows normal).
    method : {"best_f1", "percentile", "fpr"}, default "best_f1"
    q : float in (0, 100], default 99.0
        Percentile of the validation normals for ``method="percentile"``.
    alpha : float in [0, 1], default 0.01
        Largest false-positive rate allowed on validation normals for ``method="fpr"``.
    max_rows : int or None, default 5000
        Keep at most about this many evenly spaced sweep rows (the chosen one always kept).

    Returns
    -------
    threshold : float
        Rows with ``score > threshold`` are anomalies.
    sweep : pandas.DataFrame
        See :func:`threshold_sweep`.

    Examples
    --------
    >>> t, sweep = choose_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], "best_f1")
    >>> 0.2 <= t < 0.8
    True
    """
    if method not in THRESHOLD_METHODS:
        raise ConfigError(f"threshold method must be one of {list(THRESHOLD_METHODS)}, got {method!r}")
    s, y = _check_val(scores_val, y_val)
    sweep = threshold_sweep(s, y)
    normals = s if y is None else s[y == 0]
    if method == "best_f1":
        if y is None or y.min() == y.max():
            raise InputError("threshold method best_f1 needs validation labels with both normal (0) "
                             "and anomalous (1) rows; use 'percentile' or 'fpr' for normal-only data")
        f1 = sweep["f1"].to_numpy()
        keep = int(np.flatnonzero(f1 == np.nanmax(f1))[-1])  # ties: the highest threshold
        return float(sweep["threshold"].iloc[keep]), _thin(sweep, keep, max_rows)
    if normals.size == 0:
        raise InputError(f"threshold method {method} needs normal (0) rows in the validation split")
    if method == "percentile":
        if not (isinstance(q, (int, float)) and 0 < q <= 100):
            raise ConfigError(f"threshold percentile q must be in (0, 100], got {q!r}")
        thr = float(np.percentile(normals, q))
    else:
        if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
            raise ConfigError(f"threshold fpr alpha must be in [0, 1], got {alpha!r}")
        thr = threshold_at_fpr(normals, alpha)
    keep = int(np.searchsorted(sweep["threshold"].to_numpy(), thr, side="right") - 1)
    log.debug("threshold %s -> %.6g", method, thr)
    return thr, _thin(sweep, max(keep, 0), max_rows)


def tune_threshold(detector: Any, X_val: Any, y_val: Any, method: str = "best_f1",
                   **kw: Any) -> pd.DataFrame:
    """Score the validation split with ``detector`` and set its threshold in place.

    Parameters
    ----------
    detector : logad.models.base.Detector
        A fitted detector.
    X_val, y_val
        The validation split (never the test split).
    method : str
        One of :data:`THRESHOLD_METHODS`; ``**kw`` go to :func:`choose_threshold`.

    Returns
    -------
    pandas.DataFrame
        The sweep, also kept on the detector and saved by ``save``.
    """
    thr, sweep = choose_threshold(detector.score_samples(X_val), y_val, method, **kw)
    detail = {"best_f1": "", "percentile": f":q={kw.get('q', 99.0)}",
              "fpr": f":alpha={kw.get('alpha', 0.01)}"}[method]
    detector.set_threshold(thr, method=f"{method}{detail}", sweep=sweep)
    return sweep


def choose_variant(variants: Mapping[str, Any], y_val: Any, method: str = "best_f1",
                   **kw: Any) -> tuple[str, list[dict[str, Any]]]:
    """The score variant with the best validation F1 at the threshold ``method`` chooses on it.

    Parameters
    ----------
    variants : mapping of str to array-like of shape (n,)
        Validation scores of the same rows under each variant, in order of preference: a tie
        goes to the earlier one.
    y_val : array-like of shape (n,)
        Validation labels with both classes (never the test split's).
    method : str
        One of :data:`THRESHOLD_METHODS`; ``**kw`` go to :func:`choose_threshold`.

    Returns
    -------
    name : str
        The chosen variant.
    table : list of dict
        ``{"variant", "threshold", "f1"}`` for every variant, in the given order.

    Examples
    --------
    >>> choose_variant({"a": [0.1, 0.2, 0.3, 0.4], "b": [0.1, 0.9, 0.2, 0.8]}, [0, 1, 0, 1])[0]
    'b'
    """
    if not variants:
        raise InputError("choose_variant needs at least one variant")
    _, y = _check_val(next(iter(variants.values())), y_val)
    if y is None or y.min() == y.max():
        raise InputError("choosing a score variant needs validation labels of both classes")
    table = []
    for name, scores in variants.items():
        s, _ = _check_val(scores, y)
        thr, _ = choose_threshold(s, y, method, max_rows=None, **kw)
        flagged = s > thr
        tp = int((flagged & (y == 1)).sum())
        f1 = 2 * tp / (flagged.sum() + (y == 1).sum())
        table.append({"variant": name, "threshold": float(thr), "f1": float(f1)})
    best = max(range(len(table)), key=lambda i: (table[i]["f1"], -i))
    return table[best]["variant"], table
