"""Random forest (supervised): score = mean over trees of the leaf's anomalous share."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from logad.errors import ConfigError
from logad.models._checks import check_number, check_random_state
from logad.models._sklearn import (TREE_TYPE, SklearnClassifierDetector, check_class_weight,
                                   check_optional_int)

__all__ = ["RFDetector"]


class RFDetector(SklearnClassifierDetector):
    """:class:`sklearn.ensemble.RandomForestClassifier` behind the logad detector contract.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": flag probability > 0.5.
    n_estimators : int >= 1, default 100
    max_depth : int >= 1 or None, default None
    min_samples_leaf : int >= 1, default 1
    max_features : {"sqrt", "log2", None}, int >= 1 or float in (0, 1], default "sqrt"
    class_weight : {None, "balanced", "balanced_subsample"}, default None
    bootstrap : bool, default True
    n_jobs : int or None, default None
        Threads for fitting; scoring sums the trees in order in one thread, so scores do not
        depend on thread timing (parallel scoring comes from the Ray actor pool).
    random_state : int or None, default 0
    """

    name: ClassVar[str] = "rf"
    estimator_class: ClassVar[type] = RandomForestClassifier
    skops_allowed: ClassVar[tuple[str, ...]] = (TREE_TYPE,)

    def __init__(self, *, contamination: Any = "auto", n_estimators: int = 100,
                 max_depth: int | None = None, min_samples_leaf: int = 1,
                 max_features: Any = "sqrt", class_weight: Any = None, bootstrap: bool = True,
                 n_jobs: int | None = None, random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.class_weight = class_weight
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self) -> None:
        check_number(self.name, "n_estimators", self.n_estimators, lo=1, integer=True)
        check_optional_int(self.name, "max_depth", self.max_depth)
        check_number(self.name, "min_samples_leaf", self.min_samples_leaf, lo=1, integer=True)
        mf = self.max_features
        if not (mf in ("sqrt", "log2", None) or (isinstance(mf, int) and not isinstance(mf, bool)
                                                 and mf >= 1)
                or (isinstance(mf, float) and 0 < mf <= 1)):
            raise ConfigError(f"{self.name}: parameter max_features must be 'sqrt', 'log2', None, "
                              f"an int >= 1 or a float in (0, 1], got {mf!r}")
        check_class_weight(self.name, self.class_weight, (None, "balanced", "balanced_subsample"))
        if not isinstance(self.bootstrap, bool):
            raise ConfigError(f"{self.name}: parameter bootstrap must be true or false, "
                              f"got {self.bootstrap!r}")
        check_optional_int(self.name, "n_jobs", self.n_jobs, lo=-1)
        check_random_state(self.name, self.random_state)

    def _make_estimator(self) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
            class_weight=self.class_weight, bootstrap=self.bootstrap, n_jobs=self.n_jobs,
            random_state=self.random_state)

    def _score(self, X: Any) -> np.ndarray:
        est = self.estimator_
        col = self._anomaly_column()
        X = X.astype(np.float32)  # the trees' dtype: converted once, not once per tree
        total = np.zeros(X.shape[0], dtype=np.float64)
        for tree in est.estimators_:  # fixed order: the same sum as sklearn with n_jobs=1
            total += tree.predict_proba(X)[:, col]
        return total / len(est.estimators_)
