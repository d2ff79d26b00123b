"""PCA residual-subspace detector (unsupervised), after loglizer's ``PCA``.

Rows are centred with the training mean, the covariance is decomposed, and the first
``n_components`` principal directions span the normal subspace. A row's score is its squared
prediction error (SPE, the squared norm of its projection onto the residual subspace)::

    SPE(x) = || (I - P P^T) (x - mean) ||^2

With ``contamination="auto"`` the threshold is the Q-statistic of Jackson & Mudholkar at
confidence ``c_alpha`` (loglizer's default 3.2905, i.e. 99.95 %), computed from the residual
eigenvalues; otherwise it is the shared (1 - contamination) quantile of the training SPE.
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from logad.errors import ConfigError, InputError
from logad.models._checks import check_number
from logad.models.base import Detector
from logad.models.weights import load_npy, save_npy

__all__ = ["PCADetector", "q_statistic", "MAX_FEATURES"]

log = logging.getLogger(__name__)

#: The covariance is n_features x n_features: PCA is for event-count matrices, not word columns.
MAX_FEATURES = 5000
_DENSE_CELLS = 1 << 22  # rows densified at once when scoring sparse input: about 32 MiB


def q_statistic(residual_eigenvalues: np.ndarray, c_alpha: float) -> float:
    """Jackson-Mudholkar Q-statistic threshold for the SPE (as in loglizer).

    Parameters
    ----------
    residual_eigenvalues : ndarray
        Covariance eigenvalues not kept in the normal subspace.
    c_alpha : float
        Normal quantile of the confidence level (3.2905 for 99.95 %).

    Returns
    -------
    float
        NaN when the residual variance is zero.

    Examples
    --------
    Two unit residual eigenvalues at 95 %: close to the chi-square(2) quantile 5.991.

    >>> round(q_statistic(np.array([1.0, 1.0]), 1.6449), 3)
    5.937
    """
    lam = np.asarray(residual_eigenvalues, dtype=np.float64)
    phi = [float(np.sum(lam ** (i + 1))) for i in range(3)]
    if phi[0] <= 0 or phi[1] <= 0:
        return float("nan")
    h0 = 1.0 - 2.0 * phi[0] * phi[2] / (3.0 * phi[1] ** 2)
    base = (c_alpha * np.sqrt(2.0 * phi[1] * h0 ** 2) / phi[0] + 1.0
            + phi[1] * h0 * (h0 - 1.0) / phi[0] ** 2)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return float(phi[0] * np.power(base, 1.0 / h0))


class PCADetector(Detector):
    """loglizer's PCA anomaly detector (SPE in the residual subspace).

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": the Q-statistic threshold; a float: the training SPE quantile.
    n_components : float in (0, 1) or int >= 1, default 0.95
        A float keeps the fewest components explaining that share of variance; at most
        ``n_features - 1`` are kept so that a residual subspace remains.
    c_alpha : float > 0, default 3.2905
        Confidence quantile for the Q-statistic.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(300, 1))
    >>> X = np.hstack([z, 2 * z, -z]) + 0.01 * rng.normal(size=(300, 3))
    >>> det = PCADetector(n_components=1).fit(X)
    >>> det.predict(np.array([[1.0, 2.0, -1.0], [1.0, -2.0, 1.0]])).tolist()
    [0, 1]
    """

    name: ClassVar[str] = "pca"
    auto_threshold: ClassVar[str | None] = "Q-statistic"
    weight_files: ClassVar[tuple[str, ...]] = ("components.npy", "mean.npy")

    def __init__(self, *, contamination: Any = "auto", n_components: Any = 0.95,
                 c_alpha: float = 3.2905) -> None:
        self.contamination = contamination
        self.n_components = n_components
        self.c_alpha = c_alpha

    def _check_params(self) -> None:
        k = self.n_components
        if isinstance(k, float):
            check_number(self.name, "n_components", k, lo=0, hi=1, lo_open=True, hi_open=True)
        elif not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
            raise ConfigError(f"{self.name}: parameter n_components must be a float in (0, 1) "
                              f"or an int >= 1, got {k!r}")
        check_number(self.name, "c_alpha", self.c_alpha, lo=0, lo_open=True)

    def _fit(self, X: Any, y: np.ndarray | None) -> np.ndarray:
        n, d = X.shape
        if d > MAX_FEATURES:
            raise InputError(f"{self.name}: {d} features is too many for PCA (at most "
                             f"{MAX_FEATURES}); use event-count features")
        if sp.issparse(X):
            mean = np.asarray(X.mean(axis=0)).ravel()
            cov = np.asarray((X.T @ X).todense()) / n - np.outer(mean, mean)
        else:
            mean = X.mean(axis=0)
            Xc = X - mean
            cov = Xc.T @ Xc / n
        eigval, eigvec = np.linalg.eigh((cov + cov.T) / 2.0)
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = np.clip(eigval[order], 0.0, None), eigvec[:, order]
        total = eigval.sum()
        if isinstance(self.n_components, float):
            ratio = np.cumsum(eigval) / total if total > 0 else np.ones(d)
            k = int(np.searchsorted(ratio, self.n_components) + 1)
        else:
            k = int(self.n_components)
        k = max(0, min(k, d - 1))
        self.mean_ = mean.astype(np.float64)
        self.components_ = np.ascontiguousarray(eigvec[:, :k], dtype=np.float64)
        self.n_components_ = k
        self.explained_variance_ratio_ = float(eigval[:k].sum() / total) if total > 0 else 1.0
        self.q_threshold_ = q_statistic(eigval[k:], float(self.c_alpha))
        spe = self._score(X)
        self._spe_max = float(spe.max())
        return spe

    def _auto_threshold_value(self) -> float:
        q = self.q_threshold_
        if not np.isfinite(q):
            q = self._spe_max
            log.warning("pca: no residual variance in training data; the threshold falls back "
                        "to the largest training SPE (%g)", q)
        return q

    def _score(self, X: Any) -> np.ndarray:
        n, d = X.shape
        step = max(1, _DENSE_CELLS // max(d, 1))
        out = np.empty(n, dtype=np.float64)
        P = self.components_
        for start in range(0, n, step):
            block = X[start:start + step]
            block = block.toarray() if sp.issparse(block) else block
            xc = block - self.mean_
            # einsum, not BLAS: each row's result does not depend on the rows around it
            resid = xc - np.einsum("ik,jk->ij", np.einsum("ij,jk->ik", xc, P), P)
            out[start:start + step] = np.einsum("ij,ij->i", resid, resid)
        return out

    def _get_state(self) -> dict[str, Any]:
        return {"n_components": self.n_components_,
                "explained_variance_ratio": self.explained_variance_ratio_,
                "q_threshold": self.q_threshold_ if np.isfinite(self.q_threshold_) else None}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.n_components_ = int(state["n_components"])
        self.explained_variance_ratio_ = float(state["explained_variance_ratio"])
        q = state.get("q_threshold")
        self.q_threshold_ = float("nan") if q is None else float(q)

    def _save_weights(self, folder: str | os.PathLike) -> None:
        save_npy(folder, "components.npy", self.components_)
        save_npy(folder, "mean.npy", self.mean_)

    def _load_weights(self, folder: str | os.PathLike) -> None:
        d = self.n_features_in_
        self.components_ = load_npy(folder, "components.npy", (d, self.n_components_))
        self.mean_ = load_npy(folder, "mean.npy", (d,))
