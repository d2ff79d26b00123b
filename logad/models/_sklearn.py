"""Shared plumbing for detectors that wrap a scikit-learn estimator (saved with skops).

Subclasses build the estimator in ``_make_estimator`` (called from ``fit``, so ``set_params``
keeps working) and list the types skops may load beyond its defaults in ``skops_allowed``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from logad.models._checks import check_choice, check_number
from logad.models.base import Detector
from logad.models.weights import dump_skops, load_skops

__all__ = ["SklearnDetector", "SklearnClassifierDetector", "ESTIMATOR_FILE", "TREE_TYPE",
           "check_optional_int", "check_class_weight"]

ESTIMATOR_FILE = "estimator.skops"
#: The one type skops does not trust by default that tree ensembles need.
TREE_TYPE = "sklearn.tree._tree.Tree"


def check_optional_int(owner: str, name: str, value: Any, lo: int = 1) -> None:
    """None or an int >= ``lo``."""
    if value is not None:
        check_number(owner, name, value, lo=lo, integer=True)


def check_class_weight(owner: str, value: Any, choices: tuple = (None, "balanced")) -> None:
    """``class_weight`` as a name (YAML-safe); per-class dicts are not supported."""
    if value is None:
        return
    check_choice(owner, "class_weight", value, [c for c in choices if c is not None])


class SklearnDetector(Detector):
    """A detector whose learned state is one scikit-learn estimator, ``estimator_``."""

    weight_files: ClassVar[tuple[str, ...]] = (ESTIMATOR_FILE,)
    #: Types outside skops' defaults that ``load`` may trust (exact names).
    skops_allowed: ClassVar[tuple[str, ...]] = ()
    #: The scikit-learn class of ``estimator_``.
    estimator_class: ClassVar[type]

    estimator_: Any

    def _make_estimator(self) -> Any:
        raise NotImplementedError

    def _save_weights(self, folder: str | os.PathLike) -> None:
        dump_skops(self.estimator_, folder, ESTIMATOR_FILE)

    def _load_weights(self, folder: str | os.PathLike) -> None:
        self.estimator_ = load_skops(folder, ESTIMATOR_FILE, expected_class=self.estimator_class,
                                     allowed_types=self.skops_allowed)


class SklearnClassifierDetector(SklearnDetector):
    """Supervised: ``score_samples`` is the predicted probability of class 1 (anomalous)."""

    supervised: ClassVar[bool] = True
    auto_threshold: ClassVar[str | None] = "probability 0.5"

    def _fit(self, X: Any, y: np.ndarray | None) -> None:
        self.estimator_ = self._make_estimator().fit(X, y)
        return None

    def _auto_threshold_value(self) -> float:
        return 0.5

    def _anomaly_column(self) -> int:
        return int(np.flatnonzero(self.estimator_.classes_ == 1)[0])

    def _score(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(X)[:, self._anomaly_column()].astype(np.float64)
