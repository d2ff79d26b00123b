"""Input and parameter checks shared by every detector (pure NumPy/SciPy, no I/O).

Parameter problems raise :class:`~logad.errors.ConfigError` naming the parameter and the value
it got; data problems raise :class:`~logad.errors.InputError` saying what was expected.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from logad.errors import ConfigError, InputError

__all__ = ["check_number", "check_choice", "check_random_state", "check_contamination",
           "check_matrix", "check_sequences", "check_labels", "n_rows", "take_rows", "select_rows"]


def check_number(owner: str, name: str, value: Any, *, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 integer: bool = False, allow: Iterable[Any] = ()) -> None:
    """Raise ConfigError unless ``value`` is a number in the range (or one of ``allow``).

    Examples
    --------
    >>> check_number("pca", "c_alpha", 3.29, lo=0, lo_open=True)
    """
    allow = tuple(allow)
    if any(value is a or (isinstance(value, str) and value == a) for a in allow):
        return
    kind = "an integer" if integer else "a number"
    ok_type = (isinstance(value, numbers.Integral if integer else numbers.Real)
               and not isinstance(value, bool))
    ok = ok_type and np.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        rng = f"{'(' if lo_open else '['}{'-inf' if lo is None else lo}, " \
              f"{'inf' if hi is None else hi}{')' if hi_open else ']'}"
        alt = f" or one of {list(allow)}" if allow else ""
        raise ConfigError(f"{owner}: parameter {name} must be {kind} in {rng}{alt}, got {value!r}")


def check_choice(owner: str, name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if not any(value == c and type(value) is type(c) for c in choices):
        raise ConfigError(f"{owner}: parameter {name} must be one of {list(choices)}, got {value!r}")


def check_random_state(owner: str, value: Any) -> None:
    """``random_state`` must be None or a non-negative int (so that ``model.yml`` can echo it)."""
    if value is None:
        return
    check_number(owner, "random_state", value, lo=0, integer=True)


def check_contamination(owner: str, value: Any) -> None:
    """``contamination`` is ``"auto"`` or a share of anomalies in (0, 0.5]."""
    check_number(owner, "contamination", value, lo=0.0, hi=0.5, lo_open=True, allow=("auto",))


def check_matrix(X: Any, owner: str, n_features: int | None = None) -> np.ndarray | sp.csr_matrix:
    """Return ``X`` as a 2-D float64 ndarray or CSR matrix with finite values.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix, shape (n_samples, n_features)
    owner : str
        Detector name used in messages.
    n_features : int, optional
        When given, the number of columns ``X`` must have (the one seen by ``fit``).
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        values = X.data
    else:
        if hasattr(X, "to_numpy"):  # pandas
            X = X.to_numpy()
        try:  # C order: row slices then take the same einsum paths as the whole matrix
            X = np.ascontiguousarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{owner}: X must be a numeric matrix: {exc}") from None
        values = X
    if X.ndim != 2:
        raise InputError(f"{owner}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if not np.all(np.isfinite(values)):
        raise InputError(f"{owner}: X contains NaN or infinite values; fill them in the featurizer")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{owner}: X has {X.shape[1]} features, but the detector was fitted "
                         f"with {n_features}; build X with the featurizer (vocabulary) saved "
                         "with the model")
    return X


def check_sequences(X: Any, owner: str, n_features: int | None = None) -> list[np.ndarray]:
    """Return ``X`` as a list of 1-D int64 arrays of event ids (``input_kind="sequence"``).

    Ids must be in ``[0, n_features)`` when ``n_features`` (the vocabulary size) is given.
    """
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = list(X)
    if isinstance(X, (str, bytes)) or not isinstance(X, Sequence):
        raise InputError(f"{owner}: X must be a list of event-id arrays, got {type(X).__name__}")
    out = []
    for i, seq in enumerate(X):
        arr = np.asarray(seq)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise InputError(f"{owner}: sequence {i} must be a 1-D array of integer event ids")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or (n_features is not None and arr.max() >= n_features)):
            raise InputError(f"{owner}: sequence {i} has event ids outside [0, {n_features}); "
                             "map unseen events to the vocabulary's <unk> id first")
        out.append(arr)
    return out


def check_labels(y: Any, n: int, owner: str, *, required: bool) -> np.ndarray | None:
    """Return ``y`` as an int64 0/1 array of length ``n`` (or None when absent and not required).

    Supervised detectors pass ``required=True``: missing labels, or labels of one class only,
    raise InputError.
    """
    if y is None:
        if required:
            raise InputError(f"{owner} is supervised: fit needs labels y (0 normal, 1 anomalous)")
        return None
    y = np.asarray(y)
    if y.shape != (n,):
        raise InputError(f"{owner}: y must have shape ({n},) to match X, got {y.shape}")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if y.size and not np.isin(y, (0, 1)).all():
        raise InputError(f"{owner}: y must hold only 0 (normal) and 1 (anomalous), "
                         f"got values {np.unique(y)[:5].tolist()}")
    y = y.astype(np.int64)
    if required and np.unique(y).size < 2:
        only = int(y[0]) if y.size else "none"
        raise InputError(f"{owner} is supervised and needs both normal (0) and anomalous (1) rows "
                         f"in y; the training labels hold only class {only}. Use a split with both "
                         "classes or an unsupervised detector (baseline, pca, iforest, oov)")
    return y


def n_rows(X: Any) -> int:
    """Number of samples of a validated matrix or sequence list."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def take_rows(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a validated matrix or sequence list."""
    return X[start:stop]


def select_rows(X: Any, mask: np.ndarray) -> Any:
    """Rows of a matrix or of a sequence list where the bool ``mask`` is true."""
    if isinstance(X, list):
        return [x for x, keep in zip(X, mask) if keep]
    return X[mask]
