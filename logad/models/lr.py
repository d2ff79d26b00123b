"""Logistic regression (supervised): score = predicted probability that a row is anomalous."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from logad.errors import ConfigError
from logad.models._checks import check_choice, check_number, check_random_state
from logad.models._sklearn import SklearnClassifierDetector, check_class_weight

__all__ = ["LRDetector"]

log = logging.getLogger(__name__)

#: Candidate C values for ``C="cv"``.
DEFAULT_CS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


class LRDetector(SklearnClassifierDetector):
    """:class:`sklearn.linear_model.LogisticRegression` behind the logad detector contract.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": flag probability > 0.5; a float: the (1 - contamination) training quantile.
    C : float > 0 or "cv", default 1.0
        Inverse L2 regularisation strength. "cv": chosen among ``Cs`` by stratified
        ``cv``-fold cross-validation on the training rows (scored by ``cv_scoring``), then
        refitted on all of them; the choice is kept as ``C_`` (and in ``model.yml``). With fewer
        than 2 anomalous training rows there is nothing to cross-validate and C is 1.0.
    Cs : sequence of float > 0, default (0.01, 0.1, 1, 10, 100, 1000)
    cv : int >= 2, default 5
    cv_scoring : str, default "average_precision"
        A scikit-learn scorer name; average precision rewards ranking the rare anomalies first.
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
                 random_state: int | None = 0, Cs: Sequence[float] = DEFAULT_CS, cv: int = 5,
                 cv_scoring: str = "average_precision") -> None:
        self.contamination = contamination
        self.C = C
        self.Cs = Cs
        self.cv = cv
        self.cv_scoring = cv_scoring
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.solver = solver
        self.tol = tol
        self.random_state = random_state

    def _check_params(self) -> None:
        check_number(self.name, "C", self.C, lo=0, lo_open=True, allow=("cv",))
        if isinstance(self.Cs, (str, bytes)) or not len(self.Cs):
            raise ConfigError(f"{self.name}: parameter Cs must be a non-empty list of numbers, "
                              f"got {self.Cs!r}")
        for c in self.Cs:
            check_number(self.name, "Cs", c, lo=0, lo_open=True)
        check_number(self.name, "cv", self.cv, lo=2, integer=True)
        check_choice(self.name, "cv_scoring", self.cv_scoring,
                     ["average_precision", "roc_auc", "neg_log_loss", "f1"])
        check_class_weight(self.name, self.class_weight)
        check_number(self.name, "max_iter", self.max_iter, lo=1, integer=True)
        check_choice(self.name, "solver", self.solver,
                     ["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"])
        check_number(self.name, "tol", self.tol, lo=0, lo_open=True)
        check_random_state(self.name, self.random_state)

    def _make_estimator(self, C: float | None = None) -> LogisticRegression:
        return LogisticRegression(C=self.C if C is None else C, class_weight=self.class_weight,
                                  max_iter=self.max_iter, solver=self.solver, tol=self.tol,
                                  random_state=self.random_state)

    def _select_C(self, X: Any, y: np.ndarray) -> float:
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        folds = min(int(self.cv), int(np.bincount(y, minlength=2).min()))
        if folds < 2:
            log.warning("lr: C=cv needs at least 2 training rows of each class; using C=1.0")
            return 1.0
        search = GridSearchCV(self._make_estimator(1.0), {"C": [float(c) for c in self.Cs]},
                              scoring=self.cv_scoring, cv=StratifiedKFold(folds), refit=False)
        search.fit(X, y)
        return float(search.best_params_["C"])

    def _fit(self, X: Any, y: np.ndarray | None) -> None:
        assert y is not None
        y = np.asarray(y, dtype=np.int64)
        self.C_ = self._select_C(X, y) if self.C == "cv" else float(self.C)
        self.estimator_ = self._make_estimator(self.C_).fit(X, y)
        return None

    def _get_state(self) -> dict[str, Any]:
        return {"C": self.C_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.C_ = state.get("C", self.C)

    def _score(self, X: Any) -> np.ndarray:
        coef = self.estimator_.coef_[0].astype(np.float64)
        if sp.issparse(X):
            z = np.asarray(X @ coef).ravel()
        else:
            z = np.einsum("ij,j->i", X, coef)
        z = z + float(self.estimator_.intercept_[0])
        # classes_ is [0, 1]: the decision function is the log-odds of class 1
        return expit(z)
