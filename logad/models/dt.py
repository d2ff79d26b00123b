"""Decision tree (supervised): score = the anomalous share of the training rows in the leaf."""

from __future__ import annotations

from typing import Any, ClassVar

from sklearn.tree import DecisionTreeClassifier

from logad.models._checks import check_choice, check_number, check_random_state
from logad.models._sklearn import (TREE_TYPE, SklearnClassifierDetector, check_class_weight,
                                   check_optional_int)

__all__ = ["DTDetector"]


class DTDetector(SklearnClassifierDetector):
    """:class:`sklearn.tree.DecisionTreeClassifier` behind the logad detector contract.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": flag probability > 0.5.
    criterion : {"gini", "entropy", "log_loss"}, default "gini"
    max_depth : int >= 1 or None, default None
    min_samples_leaf : int >= 1, default 1
    class_weight : {None, "balanced"}, default None
    random_state : int or None, default 0

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [1.0], [0.9]])
    >>> DTDetector().fit(X, [0, 0, 1, 1]).score_samples(X).tolist()
    [0.0, 0.0, 1.0, 1.0]
    """

    name: ClassVar[str] = "dt"
    estimator_class: ClassVar[type] = DecisionTreeClassifier
    skops_allowed: ClassVar[tuple[str, ...]] = (TREE_TYPE,)

    def __init__(self, *, contamination: Any = "auto", criterion: str = "gini",
                 max_depth: int | None = None, min_samples_leaf: int = 1,
                 class_weight: Any = None, random_state: int | None = 0) -> None:
        self.contamination = contamination
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.random_state = random_state

    def _check_params(self) -> None:
        check_choice(self.name, "criterion", self.criterion, ["gini", "entropy", "log_loss"])
        check_optional_int(self.name, "max_depth", self.max_depth)
        check_number(self.name, "min_samples_leaf", self.min_samples_leaf, lo=1, integer=True)
        check_class_weight(self.name, self.class_weight)
        check_random_state(self.name, self.random_state)

    def _make_estimator(self) -> DecisionTreeClassifier:
        return DecisionTreeClassifier(criterion=self.criterion, max_depth=self.max_depth,
                                      min_samples_leaf=self.min_samples_leaf,
                                      class_weight=self.class_weight, random_state=self.random_state)
