"""Synthetic event-count data for the detector tests (seeded, small, separable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

#: Small ensembles keep the suite fast on two cores.
FAST_PARAMS = {"iforest": {"n_estimators": 25}, "rf": {"n_estimators": 15},
               "xgb": {"n_estimators": 30}}

N_FEATURES = 16
FEATURE_NAMES = [f"E{i}" for i in range(N_FEATURES - 1)] + ["<unk>"]
# three workflows whose templates occur in fixed ratios (the invariants a normal session keeps)
_WORKFLOWS = [({0: 1, 1: 1, 2: 2, 3: 1}, 3.0), ({4: 1, 5: 3, 6: 1}, 2.0),
              ({7: 1, 8: 1, 9: 1, 10: 2, 11: 1, 12: 1}, 1.5)]
_ERRORS = [13, 14]
_UNK = N_FEATURES - 1


def make_counts(n_normal: int, n_anomalous: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of template counts: normals keep the workflow invariants; every anomaly breaks one
    (a retry loop repeats a template) and most also log error templates or unknown events."""
    rng = np.random.default_rng(seed)
    n = n_normal + n_anomalous
    X = np.zeros((n, N_FEATURES))
    for pattern, lam in _WORKFLOWS:
        z = rng.poisson(lam, n) + 1
        for col, mult in pattern.items():
            X[:, col] = z * mult
    noise = rng.random(n) < 0.1  # a little noise on normals too
    X[noise, rng.integers(0, 13, noise.sum())] += 1
    y = np.zeros(n, dtype=np.int64)
    y[n_normal:] = 1
    for i in range(n_normal, n):
        pattern = _WORKFLOWS[rng.integers(len(_WORKFLOWS))][0]
        X[i, rng.choice(list(pattern))] += rng.integers(8, 20)  # a retry loop
        if rng.random() < 0.8:
            X[i, rng.choice(_ERRORS + [_UNK])] += rng.integers(1, 4)
    order = rng.permutation(n)
    return X[order], y[order]


@dataclass
class Split:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def X_train_normal(self) -> np.ndarray:
        return self.X_train[self.y_train == 0]


@pytest.fixture(scope="session")
def counts_split() -> Split:
    X_train, y_train = make_counts(240, 40, seed=7)
    X_test, y_test = make_counts(200, 40, seed=8)
    return Split(X_train, y_train, X_test, y_test)


#: Detectors whose notion of "seen in training" needs normal-only training rows.
NORMAL_ONLY = {"oov", "baseline"}


def training_rows(name: str, supervised: bool, split: Split) -> tuple[np.ndarray, np.ndarray | None]:
    """Supervised: all rows with labels; oov/baseline: the normal rows (semi-supervised, as
    DeepLog); other unsupervised detectors: all rows without labels (contaminated, as loglizer)."""
    if supervised:
        return split.X_train, split.y_train
    if name in NORMAL_ONLY:
        return split.X_train_normal, None
    return split.X_train, None


def fit_detector(cls, split: Split, sparse: bool = False, **params):
    """Fit ``cls`` on the rows :func:`training_rows` picks (as CSR when ``sparse``)."""
    det = cls(**{**FAST_PARAMS.get(cls.name, {}), **params})
    X, y = training_rows(cls.name, cls.supervised, split)
    return det.fit(sp.csr_matrix(X) if sparse else X, y, feature_names=FEATURE_NAMES)
