"""Logistic regression (supervised): score = predicted probability that a row is anomalous."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from logad.models._checks import check_choice, check_number, check_random_state
from logad.models._sklearn import SklearnClassifierDetector, check_class_weight

__all__ = ["LRDetector"]


class LRDetector(SklearnClassifierDetector):
    """:class:`sklearn.linear_model.LogisticRegression` behind the logad detector contract.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": flag probability > 0.5; a float: the (1 - contamination) training quantile.
    C : float > 0, default 1.0
        Inverse L2 regularisation strength.
    class_weight : {None, "balanced"}, default None
    max_iter : int >= 1, default 1000
    solver : str, default "lbfgs"
    tol : float > 0, default 1e-4
    random_state : int or None, default 0

    Notes
    -----
    Scores are ``expit(X @ coef + intercept)`` computed row by row (sparse product or einsum,
    not BLAS), so a row's score does not depend on the batch it is scored in.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2]])
    >>> det = LRDetector(C=10.0).fit(X, [0, 0, 1, 1])
    >>> det.predict(X).tolist()
    [0, 0, 1, 1]
    """

    name: ClassVar[str] = "lr"
    estimator_class: ClassVar[type] = LogisticRegression

    def __init__(self, *, contamination: Any = "auto", C: float = 1.0, class_weight: Any = None,
                 max_iter: int = 1000, solver: str = "lbfgs", tol: float = 1e-4,
                 random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.solver = solver
        self.tol = tol
        self.random_state = random_state

    def _check_params(self) -> None:
        check_number(self.name, "C", self.C, lo=0, lo_open=True)
        check_class_weight(self.name, self.class_weight)
        check_number(self.name, "max_iter", self.max_iter, lo=1, integer=True)
        check_choice(self.name, "solver", self.solver,
                     ["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"])
        check_number(self.name, "tol", self.tol, lo=0, lo_open=True)
        check_random_state(self.name, self.random_state)

    def _make_estimator(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                  solver=self.solver, tol=self.tol, random_state=self.random_state)

    def _score(self, X: Any) -> np.ndarray:
        coef = self.estimator_.coef_[0].astype(np.float64)
        if sp.issparse(X):
            z = np.asarray(X @ coef).ravel()
        else:
            z = np.einsum("ij,j->i", X, coef)
        z = z + float(self.estimator_.intercept_[0])
        # classes_ is [0, 1]: the decision function is the log-odds of class 1
        return expit(z)
