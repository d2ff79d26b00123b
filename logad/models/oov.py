"""Out-of-vocabulary detector (unsupervised): score = share (or number) of unseen events."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Sequence

import numpy as np

from logad.errors import ConfigError
from logad.models._vocab import (check_nonnegative, check_unknown_features, row_dot, row_sums,
                                 unseen_mask)
from logad.models.base import Detector
from logad.models.weights import load_npy, save_npy

__all__ = ["OOVDetector"]


class OOVDetector(Detector):
    """Flags rows made of events (templates, words, trigrams) never seen in training.

    Unseen columns are those that are zero in every training row, plus the columns named in
    ``unknown_features`` (the featurizer's ``<unk>`` bucket, which collects events outside the
    vocabulary). As in LogLead's OOV detector, the score is the unseen mass of the row.

    Parameters
    ----------
    contamination : "auto" or float in (0, 0.5], default "auto"
        "auto": flag any row with an unseen event (score > 0).
    normalize : bool, default True
        True: unseen share of the row's total (0 for an empty row); False: the unseen count.
    unknown_features : list of str, default ("<unk>",)

    Examples
    --------
    >>> X = np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    >>> det = OOVDetector().fit(X, feature_names=["a", "b", "c"])
    >>> det.score_samples(np.array([[1.0, 1.0, 2.0]])).tolist()
    [0.5]
    """

    fit_on = "normal"

    name: ClassVar[str] = "oov"
    auto_threshold: ClassVar[str | None] = "any unseen event"
    weight_files: ClassVar[tuple[str, ...]] = ("unseen.npy",)

    def __init__(self, *, contamination: Any = "auto", normalize: bool = True,
                 unknown_features: Sequence[str] = ("<unk>",)) -> None:
        self.contamination = contamination
        self.normalize = normalize
        self.unknown_features = unknown_features

    def _check_params(self) -> None:
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"{self.name}: parameter normalize must be true or false, "
                              f"got {self.normalize!r}")
        check_unknown_features(self.name, self.unknown_features)

    def _fit(self, X: Any, y: np.ndarray | None) -> None:
        check_nonnegative(self.name, X)
        self.unseen_ = unseen_mask(X, self.feature_names_in_, self.unknown_features)
        return None

    def _auto_threshold_value(self) -> float:
        return 0.0

    def _score(self, X: Any) -> np.ndarray:
        unseen = row_dot(X, self.unseen_.astype(np.float64))
        if not self.normalize:
            return unseen
        total = row_sums(X)
        return np.divide(unseen, total, out=np.zeros_like(unseen), where=total > 0)

    def _get_state(self) -> dict[str, Any]:
        return {"n_unseen_columns": int(self.unseen_.sum())}

    def _save_weights(self, folder: str | os.PathLike) -> None:
        save_npy(folder, "unseen.npy", self.unseen_)

    def _load_weights(self, folder: str | os.PathLike) -> None:
        self.unseen_ = load_npy(folder, "unseen.npy", (self.n_features_in_,)).astype(bool)
