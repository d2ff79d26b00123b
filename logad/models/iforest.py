"""Isolation forest (unsupervised): score = 2^(-mean path length / c(n)), in (0, 1]."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import IsolationForest

from logad.errors import ConfigError
from logad.models._checks import check_number, check_random_state
from logad.models._sklearn import TREE_TYPE, SklearnDetector, check_optional_int

__all__ = ["IForestDetector"]


class IForestDetector(SklearnDetector):
    """:class:`sklearn.ensemble.IsolationForest` behind the logad detector contract.

    ``score_samples`` is minus sklearn's ``score_samples``: the anomaly score of Liu et al.,
    near 1 for rows isolated quickly, about 0.5 or less for ordinary rows.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default 0.1
        A float: the (1 - contamination) quantile of the holdout scores (of the training scores
        when ``holdout_fraction`` is 0). "auto": flag score > 0.5 (the paper's cut, sklearn's
        ``contamination="auto"``).
    n_estimators : int >= 1, default 100
    max_samples : "auto", int >= 1 or float in (0, 1], default "auto"
    max_features : int >= 1 or float in (0, 1], default 1.0
    bootstrap : bool, default False
    holdout_fraction : float in [0, 0.5], default 0.2
        Share of training rows (chosen with ``random_state``) kept out of the forest; the
        threshold is their score percentile, which is not biased low like in-sample scores.
    n_jobs : int or None, default None
        Threads for fitting; scoring is sequential (and so independent of thread timing).
    random_state : int or None, default 0

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(200, 2)), [[8.0, 8.0]]])
    >>> det = IForestDetector(n_estimators=50).fit(X)
    >>> int(np.argmax(det.score_samples(X)))
    200
    """

    name: ClassVar[str] = "iforest"
    estimator_class: ClassVar[type] = IsolationForest
    skops_allowed: ClassVar[tuple[str, ...]] = (TREE_TYPE,)
    auto_threshold: ClassVar[str | None] = "score 0.5"

    def __init__(self, *, contamination: Any = 0.1, n_estimators: int = 100,
                 max_samples: Any = "auto", max_features: Any = 1.0, bootstrap: bool = False,
                 holdout_fraction: float = 0.2, n_jobs: int | None = None,
                 random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.holdout_fraction = holdout_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self) -> None:
        check_number(self.name, "n_estimators", self.n_estimators, lo=1, integer=True)
        ms = self.max_samples
        if not (ms == "auto" or (isinstance(ms, int) and not isinstance(ms, bool) and ms >= 1)
                or (isinstance(ms, float) and 0 < ms <= 1)):
            raise ConfigError(f"{self.name}: parameter max_samples must be 'auto', an int >= 1 "
                              f"or a float in (0, 1], got {ms!r}")
        mf = self.max_features
        if not ((isinstance(mf, int) and not isinstance(mf, bool) and mf >= 1)
                or (isinstance(mf, float) and 0 < mf <= 1)):
            raise ConfigError(f"{self.name}: parameter max_features must be an int >= 1 or a "
                              f"float in (0, 1], got {mf!r}")
        if not isinstance(self.bootstrap, bool):
            raise ConfigError(f"{self.name}: parameter bootstrap must be true or false, "
                              f"got {self.bootstrap!r}")
        check_number(self.name, "holdout_fraction", self.holdout_fraction, lo=0.0, hi=0.5)
        check_optional_int(self.name, "n_jobs", self.n_jobs, lo=-1)
        check_random_state(self.name, self.random_state)

    def _make_estimator(self) -> IsolationForest:
        return IsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                               max_features=self.max_features, bootstrap=self.bootstrap,
                               contamination="auto", n_jobs=self.n_jobs,
                               random_state=self.random_state)

    def _fit(self, X: Any, y: np.ndarray | None) -> np.ndarray | None:
        n = X.shape[0]
        n_hold = int(np.floor(self.holdout_fraction * n))
        if self.contamination == "auto" or n_hold < 1 or n - n_hold < 2:
            self.estimator_ = self._make_estimator().fit(X)
            self.estimator_.n_jobs = None  # sequential scoring: see n_jobs
            return None
        perm = np.random.default_rng(self.random_state).permutation(n)
        hold, rest = np.sort(perm[:n_hold]), np.sort(perm[n_hold:])
        self.estimator_ = self._make_estimator().fit(X[rest])
        self.estimator_.n_jobs = None
        return self._score(X[hold])

    def _auto_threshold_value(self) -> float:
        return 0.5

    def _score(self, X: Any) -> np.ndarray:
        return -self.estimator_.score_samples(X).astype(np.float64)
