"""Gradient-boosted trees with XGBoost (supervised): score = predicted anomaly probability.

Weights are XGBoost's own JSON (``model.json``), which holds trees and numbers only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from logad.errors import ModelError
from logad.models._checks import check_choice, check_number, check_random_state
from logad.models._sklearn import check_optional_int
from logad.models.base import Detector

__all__ = ["XGBDetector"]

WEIGHTS = "model.json"


def _as_input(X: Any, zero_as_missing: bool) -> Any:
    """One representation for fit and score, whether ``X`` arrives dense or sparse.

    XGBoost reads absent sparse entries as *missing* and dense zeros as the value 0. With
    ``zero_as_missing`` the input becomes CSR without stored zeros (every zero is missing: cheap
    on wide word or trigram vectors); without it, a dense float array (a zero is a value).
    """
    if not zero_as_missing:
        return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    X.eliminate_zeros()
    return X


class XGBDetector(Detector):
    """:class:`xgboost.XGBClassifier` behind the logad detector contract.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": flag probability > 0.5.
    n_estimators : int >= 1, default 200
    max_depth : int >= 1, default 6
    learning_rate : float in (0, 1], default 0.1
    subsample, colsample_bytree : float in (0, 1], default 1.0
    min_child_weight : float >= 0, default 1.0
    reg_lambda : float >= 0, default 1.0
    scale_pos_weight : None, "auto" or float > 0, default None
        "auto": n_normal / n_anomalous of the training labels (stored as ``scale_pos_weight_``).
    tree_method : {"hist", "approx", "exact"}, default "hist"
    n_jobs : int or None, default None
        XGBoost threads; each row's score is a sum over trees in order, so threads do not
        change it.
    random_state : int or None, default 0
    zero_as_missing : bool, default True
        True: a zero count is "absent", XGBoost's missing value, and the input stays sparse (for
        wide word or trigram vectors). False: a zero is a value the trees split on, and the input
        is made dense (for short event-count vectors). Missing values take a learnt default
        branch: a count that is zero at scoring time where training never had a zero at that
        split goes wherever that default points, which can flag a session for lacking an event
        that normal training sessions always had (seen on HDFS: ``bench/README.md``).
    """

    name: ClassVar[str] = "xgb"
    supervised: ClassVar[bool] = True
    auto_threshold: ClassVar[str | None] = "probability 0.5"
    weight_files: ClassVar[tuple[str, ...]] = (WEIGHTS,)

    def __init__(self, *, contamination: Any = "auto", n_estimators: int = 200,
                 max_depth: int = 6, learning_rate: float = 0.1, subsample: float = 1.0,
                 colsample_bytree: float = 1.0, min_child_weight: float = 1.0,
                 reg_lambda: float = 1.0, scale_pos_weight: Any = None,
                 tree_method: str = "hist", n_jobs: int | None = None,
                 random_state: int | None = 0, zero_as_missing: bool = True) -> None:
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.scale_pos_weight = scale_pos_weight
        self.tree_method = tree_method
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.zero_as_missing = zero_as_missing

    def _check_params(self) -> None:
        n = self.name
        check_number(n, "n_estimators", self.n_estimators, lo=1, integer=True)
        check_number(n, "max_depth", self.max_depth, lo=1, integer=True)
        check_number(n, "learning_rate", self.learning_rate, lo=0, hi=1, lo_open=True)
        check_number(n, "subsample", self.subsample, lo=0, hi=1, lo_open=True)
        check_number(n, "colsample_bytree", self.colsample_bytree, lo=0, hi=1, lo_open=True)
        check_number(n, "min_child_weight", self.min_child_weight, lo=0)
        check_number(n, "reg_lambda", self.reg_lambda, lo=0)
        if self.scale_pos_weight is not None:
            check_number(n, "scale_pos_weight", self.scale_pos_weight, lo=0, lo_open=True,
                         allow=("auto",))
        check_choice(n, "tree_method", self.tree_method, ["hist", "approx", "exact"])
        check_optional_int(n, "n_jobs", self.n_jobs, lo=-1)
        check_random_state(n, self.random_state)
        check_choice(n, "zero_as_missing", self.zero_as_missing, [True, False])

    def _make_estimator(self, scale_pos_weight: float | None) -> Any:
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            learning_rate=self.learning_rate, subsample=self.subsample,
            colsample_bytree=self.colsample_bytree, min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda, scale_pos_weight=scale_pos_weight,
            tree_method=self.tree_method, n_jobs=self.n_jobs,
            random_state=0 if self.random_state is None else self.random_state,
            objective="binary:logistic", eval_metric="logloss")

    def _fit(self, X: Any, y: np.ndarray | None) -> None:
        assert y is not None
        X = _as_input(X, self.zero_as_missing)
        spw = self.scale_pos_weight
        if spw == "auto":
            spw = float((y == 0).sum() / (y == 1).sum())
        self.scale_pos_weight_ = None if spw is None else float(spw)
        self.estimator_ = self._make_estimator(self.scale_pos_weight_).fit(X, y)
        return None

    def _auto_threshold_value(self) -> float:
        return 0.5

    def _score(self, X: Any) -> np.ndarray:
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return self.estimator_.predict_proba(_as_input(X, self.zero_as_missing))[:, 1].astype(np.float64)

    def _get_state(self) -> dict[str, Any]:
        return {"scale_pos_weight": self.scale_pos_weight_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.scale_pos_weight_ = state.get("scale_pos_weight")

    def _save_weights(self, folder: str | os.PathLike) -> None:
        self.estimator_.save_model(str(Path(folder) / WEIGHTS))

    def _load_weights(self, folder: str | os.PathLike) -> None:
        from xgboost.core import XGBoostError

        est = self._make_estimator(self.scale_pos_weight_)
        try:
            est.load_model(str(Path(folder) / WEIGHTS))
        except XGBoostError as exc:
            raise ModelError(f"{Path(folder) / WEIGHTS}: not a readable XGBoost JSON model: "
                             f"{str(exc).splitlines()[0]}") from None
        if est.n_features_in_ != self.n_features_in_:
            raise ModelError(f"{Path(folder) / WEIGHTS}: model has {est.n_features_in_} features, "
                             f"model.yml says {self.n_features_in_}")
        self.estimator_ = est
