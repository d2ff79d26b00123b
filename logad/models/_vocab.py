"""Unseen-event columns: the shared core of the OOV and baseline detectors (pure NumPy/SciPy)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from logad.errors import ConfigError, InputError

__all__ = ["check_unknown_features", "check_nonnegative", "unseen_mask", "row_dot", "row_sums"]


def check_unknown_features(owner: str, value: Any) -> None:
    """``unknown_features`` is a list (or tuple) of column names."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{owner}: parameter unknown_features must be a list of column names, "
                          f"got {value!r}")


def check_nonnegative(owner: str, X: Any) -> None:
    """Counts-like features only: refuse negative values."""
    values = X.data if sp.issparse(X) else X
    if values.size and values.min() < 0:
        raise InputError(f"{owner}: X has negative values; this detector needs event counts or "
                         "frequencies (features 'counts' or 'tfidf'), not centred or numeric ones")


def unseen_mask(X: Any, feature_names: Sequence[str] | None,
                unknown_features: Iterable[str]) -> np.ndarray:
    """Bool mask of columns that are zero in every training row or named in ``unknown_features``.

    Examples
    --------
    >>> unseen_mask(np.array([[1.0, 0, 0], [2.0, 0, 1]]), ["a", "b", "<unk>"], ["<unk>"]).tolist()
    [False, True, True]
    """
    if sp.issparse(X):
        seen = np.asarray(abs(X).sum(axis=0)).ravel() > 0
    else:
        seen = np.abs(X).sum(axis=0) > 0
    mask = ~seen
    if feature_names is not None:
        unknown = set(unknown_features)
        mask |= np.array([name in unknown for name in feature_names], dtype=bool)
    return mask


def row_dot(X: Any, w: np.ndarray) -> np.ndarray:
    """``X @ w`` computed row by row (sparse mat-vec or einsum, not BLAS) so that a row's value
    does not depend on the other rows in the batch."""
    w = np.asarray(w, dtype=np.float64)
    if sp.issparse(X):
        return np.asarray(X @ w, dtype=np.float64).ravel()
    return np.einsum("ij,j->i", X, w)


def row_sums(X: Any) -> np.ndarray:
    """Sum of each row, batch-independent."""
    return row_dot(X, np.ones(X.shape[1]))
