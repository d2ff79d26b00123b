"""SHAP values of a detector's score, with the explainer that fits the detector.

* Trees (decision tree, random forest, XGBoost, isolation forest): ``shap.TreeExplainer``,
  interventional against the background rows (path-dependent where shap refuses a background).
* Logistic regression: ``shap.LinearExplainer`` on the log-odds, against the background.
* Any other matrix detector (PCA, the statistical baseline, OOV): a bounded permutation
  explainer over the detector's own score (``max_evals``), seeded per session so a session's
  values never depend on which rows it was explained with.
* Sequence detectors (DeepLog, LogBERT): not SHAP. A detector that defines
  ``explain_sequences(X) -> list[dict]`` (which events it missed and what it expected) is asked
  for that instead (:func:`sequence_hook`); otherwise a "not supported" note.

Values are oriented so that **positive pushes towards anomalous** (isolation forest's tree
output is a path length, longer = more normal, so its values are negated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["explainer_kind", "output_label", "ShapExplainer", "sequence_hook", "session_seed", "UNSUPPORTED"]

TREE_DETECTORS = ("dt", "rf", "xgb", "iforest")
LINEAR_DETECTORS = ("lr",)
#: Why a detector gets no SHAP values.
UNSUPPORTED = "SHAP is not supported for sequence models; see the events they missed instead"


def explainer_kind(detector: Any) -> str:
    """``"tree"``, ``"linear"``, ``"permutation"`` or ``"sequence"`` for a fitted detector."""
    if getattr(detector, "input_kind", "matrix") == "sequence":
        return "sequence"
    if detector.name in TREE_DETECTORS:
        return "tree"
    if detector.name in LINEAR_DETECTORS:
        return "linear"
    return "permutation"


def output_label(detector: Any) -> str:
    """What the SHAP values of ``detector`` add up to (the axis of its plots)."""
    return {"xgb": "log-odds", "lr": "log-odds", "iforest": "mean path length (negated)",
            "dt": "anomaly probability", "rf": "anomaly probability"}.get(detector.name, "score")


def session_seed(session_id: str) -> int:
    """A seed from the session id: the permutation explainer's draws depend on the session only."""
    return int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=4).digest(), "little")


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


@dataclass
class ShapExplainer:
    """Explain rows of one detector against a fixed background (rows × features, dense).

    Parameters
    ----------
    detector : Detector
        A fitted matrix detector.
    background : ndarray
        Background rows (typically a sample of the training split).
    max_evals : int
        Bound on model calls per row for the permutation fallback.
    """

    detector: Any
    background: np.ndarray
    max_evals: int = 500

    def __post_init__(self) -> None:
        self.kind = explainer_kind(self.detector)
        self.sign = -1.0 if self.detector.name == "iforest" else 1.0
        self.output = output_label(self.detector)
        self._missing_as_nan = bool(getattr(self.detector, "zero_as_missing", False)) and \
            self.detector.name == "xgb"
        bg = self._prep(self.background)
        import shap

        if self.kind == "tree":
            est = self.detector.estimator_
            try:
                self.explainer = shap.TreeExplainer(est, data=bg, feature_perturbation="interventional")
            except Exception:  # noqa: BLE001 - shap refuses a background for some forests
                self.explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
        elif self.kind == "linear":
            self.explainer = shap.LinearExplainer(self.detector.estimator_, bg)
        elif self.kind == "permutation":
            self.masker = shap.maskers.Independent(bg, max_samples=min(len(bg), 100))
        else:
            raise ValueError(UNSUPPORTED)

    def _prep(self, X: Any) -> np.ndarray:
        X = _dense(X)
        if self._missing_as_nan:
            X = np.where(X == 0, np.nan, X)  # the XGBoost model reads an absent count as missing
        return X

    def _pick_class(self, values: Any) -> np.ndarray:
        """The anomaly class of a classifier's per-class values; plain 2-D arrays pass through."""
        if isinstance(values, list):
            values = values[self.detector._anomaly_column()]
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 3:
            values = values[:, :, self.detector._anomaly_column()]
        return values

    def _base(self) -> float:
        ev = np.asarray(self.explainer.expected_value, dtype=np.float64).ravel()
        if ev.size > 1 and hasattr(self.detector, "_anomaly_column"):
            return float(ev[self.detector._anomaly_column()])
        return float(ev[0])

    def explain(self, X: Any, session_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """SHAP values (rows × features, positive = towards anomalous) and each row's base value."""
        X = self._prep(X)
        n = X.shape[0]
        if n == 0:
            return np.zeros((0, self.background.shape[1])), np.zeros(0)
        if self.kind in ("tree", "linear"):
            if self.kind == "tree":
                values = self.explainer.shap_values(X, check_additivity=False)
            else:
                values = self.explainer.shap_values(X)
            values = self._pick_class(values)
            base = np.full(n, self._base())
            return self.sign * values, self.sign * base
        import shap

        out = np.zeros_like(X)
        base = np.zeros(n)
        evals = max(int(self.max_evals), 2 * X.shape[1] + 1)
        for i, sid in enumerate(session_ids):
            exp = shap.PermutationExplainer(self.detector.score_samples, self.masker,
                                            seed=session_seed(sid))
            e = exp(X[i:i + 1], max_evals=evals, silent=True)
            out[i] = np.asarray(e.values, dtype=np.float64)[0]
            base[i] = float(np.asarray(e.base_values).ravel()[0])
        return out, base


def sequence_hook(detector: Any, sequences: Any) -> list[dict] | None:
    """What a sequence detector says about each session (missed events, expected ones), or None.

    The hook for DeepLog / LogBERT: a detector with ``explain_sequences(X)`` returns one dict a
    session (``{"missed": [{"pos", "event", "expected": [...]}, ...]}``); a detector without it
    gets the :data:`UNSUPPORTED` note in the explain manifest.
    """
    fn = getattr(detector, "explain_sequences", None)
    return None if fn is None else list(fn(sequences))
