"""Synthetic event-count data for the detector tests (seeded, small, separable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

#: Small ensembles keep the suite fast on two cores.
FAST_PARAMS = {"iforest": {"n_estimators": 25}, "rf": {"n_estimators": 15},
               "xgb": {"n_estimators": 30},
               # torch sequence detectors: tiny networks, a few epochs, CPU
               "deeplog": {"epochs": 3, "hidden": 16, "layers": 1, "embed": 8, "window": 5,
                           "top_k": 3, "batch_size": 128, "lr": 0.01, "device": "cpu"},
               "logbert": {"epochs": 12, "d_model": 32, "heads": 2, "layers": 1, "window": 16,
                           "stride": 8, "batch_size": 32, "lr": 0.005, "device": "cpu"},
               "mscred": {"epochs": 4, "channels": 4, "max_events": 16, "history": 2,
                          "scales": [1, 2], "batch_size": 64, "lr": 0.005, "device": "cpu"},
               "logrobust": {"epochs": 12, "hidden": 16, "embed": 8, "max_len": 32,
                             "batch_size": 16, "lr": 0.01, "device": "cpu"}}

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
    """Supervised: all rows with labels; oov/baseline and detectors with ``fit_on="normal"``:
    the normal rows (semi-supervised, as DeepLog); other unsupervised detectors: all rows
    without labels (contaminated, as loglizer)."""
    from logad.models.registry import DETECTORS

    if supervised:
        return split.X_train, split.y_train
    if name in NORMAL_ONLY or (name in DETECTORS and DETECTORS[name].input_kind == "sequence"
                               and DETECTORS[name].fit_on == "normal"):
        return split.X_train_normal, None
    return split.X_train, None


def fit_detector(cls, split: Split, sparse: bool = False, **params):
    """Fit ``cls`` on the rows :func:`training_rows` picks (as CSR when ``sparse``)."""
    det = cls(**{**FAST_PARAMS.get(cls.name, {}), **params})
    X, y = training_rows(cls.name, cls.supervised, split)
    return det.fit(sp.csr_matrix(X) if sparse else X, y, feature_names=FEATURE_NAMES)


#: The sequence tests share the counts tests' vocabulary size (ids 0..15, 0 = <unk>).
SEQ_FEATURE_NAMES = ["<unk>"] + [f"E{i}" for i in range(1, N_FEATURES)]


# ---------------------------------------------------------------- event-id sessions (torch models)
#: Ordered workflows of event ids (0 is <unk>, 13 and 14 error events, never in normal sessions).
_SEQ_WORKFLOWS = [[1, 2, 3, 3, 4], [5, 6, 6, 6, 7], [8, 9, 10, 11, 12]]


def make_sequences(n_normal: int, n_anomalous: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Sessions of 2-4 workflows in a row; every anomaly breaks the order (a step swapped or a
    retry loop) and most also log an error event or an unknown one."""
    rng = np.random.default_rng(seed)
    seqs, y = [], []
    for i in range(n_normal + n_anomalous):
        parts = [_SEQ_WORKFLOWS[j] for j in rng.integers(0, 3, rng.integers(2, 5))]
        seq = [e for p in parts for e in p]
        if i >= n_normal:
            at = int(rng.integers(1, len(seq) - 1))
            if rng.random() < 0.5:
                seq[at], seq[at + 1] = seq[at + 1], seq[at]
            else:
                seq[at:at] = [seq[at]] * int(rng.integers(4, 8))
            if rng.random() < 0.8:
                seq.insert(int(rng.integers(0, len(seq))), int(rng.choice([13, 14, 0])))
        seqs.append(np.array(seq, dtype=np.int64))
        y.append(int(i >= n_normal))
    order = rng.permutation(len(seqs))
    return [seqs[i] for i in order], np.array(y, dtype=np.int64)[order]


@dataclass
class SeqSplit:
    X_train: list
    y_train: np.ndarray
    X_test: list
    y_test: np.ndarray

    @property
    def X_train_normal(self) -> list:
        return [x for x, label in zip(self.X_train, self.y_train) if label == 0]


@pytest.fixture(scope="session")
def seq_split() -> SeqSplit:
    X_train, y_train = make_sequences(240, 40, seed=7)
    X_test, y_test = make_sequences(200, 40, seed=8)
    return SeqSplit(X_train, y_train, X_test, y_test)
