"""Statistical window baseline (unsupervised, no labels): new events plus frequency shift.

For a row (a window or session of event counts) with normalised profile ``p = x / sum(x)``::

    score = new_ratio(x) + shift_weight * TV(p, m)

* ``new_ratio``: the share of the row's events in columns unseen in training (zero in every
  training row, or named in ``unknown_features``, i.e. the ``<unk>`` bucket);
* ``m``: the exponentially weighted moving average (EWM, ``adjust=True`` as in pandas) of the
  training rows' profiles, in row order, so recent windows weigh more; rows should come in time
  order;
* ``TV(p, m) = 0.5 * sum(|p - m|)``, the total-variation distance in [0, 1].

The score is in [0, 1 + shift_weight]; the threshold is the (1 - contamination) quantile of the
training scores.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Sequence

import numpy as np
import scipy.sparse as sp

from logad.models._checks import check_number
from logad.models._vocab import (check_nonnegative, check_unknown_features, row_dot, row_sums,
                                 unseen_mask)
from logad.models.base import Detector
from logad.models.weights import load_npy, save_npy

__all__ = ["BaselineDetector", "ewm_profile", "tv_distance"]


def _profiles(X: Any) -> Any:
    """Rows divided by their sums (empty rows stay zero)."""
    total = row_sums(X)
    inv = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    if sp.issparse(X):
        return sp.diags(inv) @ X
    return X * inv[:, None]


def ewm_profile(P: Any, alpha: float) -> np.ndarray:
    """EWM mean of the rows of ``P`` in order (weights ``(1 - alpha) ** age``, normalised).

    Examples
    --------
    >>> ewm_profile(np.array([[1.0, 0.0], [0.0, 1.0]]), 0.5).round(4).tolist()
    [0.3333, 0.6667]
    """
    n = P.shape[0]
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    w = np.exp(age * np.log1p(-alpha))
    w /= w.sum()
    return np.asarray(P.T @ w, dtype=np.float64).ravel()


def tv_distance(P: Any, m: np.ndarray) -> np.ndarray:
    """``0.5 * sum_j |P_ij - m_j|`` for each row, computed row by row (sparse-friendly)."""
    if sp.issparse(P):
        P = sp.csr_matrix(P)
        mj = m[P.indices]
        parts = sp.csr_matrix((np.abs(P.data - mj) - mj, P.indices, P.indptr), shape=P.shape)
        return 0.5 * (row_sums(parts) + m.sum())
    return 0.5 * np.abs(P - m).sum(axis=1)


class BaselineDetector(Detector):
    """Label-free window baseline: unseen-event share plus EWM frequency shift.

    Parameters
    ----------
    contamination : float in (0, 0.5], default 0.05
        Share of training rows above the threshold.
    alpha : float in (0, 1), default 0.05
        EWM smoothing factor (weight of the newest row); smaller = longer memory.
    shift_weight : float >= 0, default 1.0
        Weight of the frequency-shift term (0: new-event ratio only).
    unknown_features : list of str, default ("<unk>",)
        Columns that always count as unseen (the featurizer's out-of-vocabulary bucket).

    Examples
    --------
    >>> X = np.array([[3.0, 1.0, 0.0]] * 20)
    >>> det = BaselineDetector(contamination=0.1).fit(X)
    >>> det.score_samples(np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 1.0]])).round(3).tolist()
    [0.0, 1.25]
    """

    fit_on = "normal"

    name: ClassVar[str] = "baseline"
    weight_files: ClassVar[tuple[str, ...]] = ("unseen.npy", "profile.npy")

    def __init__(self, *, contamination: Any = 0.05, alpha: float = 0.05,
                 shift_weight: float = 1.0, unknown_features: Sequence[str] = ("<unk>",)) -> None:
        self.contamination = contamination
        self.alpha = alpha
        self.shift_weight = shift_weight
        self.unknown_features = unknown_features

    def _check_params(self) -> None:
        check_number(self.name, "alpha", self.alpha, lo=0, hi=1, lo_open=True, hi_open=True)
        check_number(self.name, "shift_weight", self.shift_weight, lo=0)
        check_unknown_features(self.name, self.unknown_features)

    def _fit(self, X: Any, y: np.ndarray | None) -> None:
        check_nonnegative(self.name, X)
        self.unseen_ = unseen_mask(X, self.feature_names_in_, self.unknown_features)
        self.profile_ = ewm_profile(_profiles(X), float(self.alpha))
        return None

    def _score(self, X: Any) -> np.ndarray:
        P = _profiles(X)
        new_ratio = row_dot(P, self.unseen_.astype(np.float64))
        if self.shift_weight == 0:
            return new_ratio
        return new_ratio + float(self.shift_weight) * tv_distance(P, self.profile_)

    def _get_state(self) -> dict[str, Any]:
        return {"n_unseen_columns": int(self.unseen_.sum())}

    def _save_weights(self, folder: str | os.PathLike) -> None:
        save_npy(folder, "unseen.npy", self.unseen_)
        save_npy(folder, "profile.npy", self.profile_)

    def _load_weights(self, folder: str | os.PathLike) -> None:
        d = self.n_features_in_
        self.unseen_ = load_npy(folder, "unseen.npy", (d,)).astype(bool)
        self.profile_ = load_npy(folder, "profile.npy", (d,)).astype(np.float64)
