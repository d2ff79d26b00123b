"""The detector contract: every model in logad is a :class:`Detector`.

A detector is a small class in its own module ``logad/models/<name>.py`` with a line in
:data:`logad.models.registry.DETECTORS`.

* ``__init__(self, *, ...)`` only stores keyword arguments under their own names.
* ``fit(X, y=None, *, feature_names=None)`` checks the parameters (the message names the
  parameter and the value), sets fitted attributes ending in ``_`` (``n_features_in_``,
  ``feature_names_in_``, ``threshold_``, ``threshold_method_``, ``score_reference_``, and the
  detector's own such as ``estimator_``) and returns ``self``.
* ``score_samples(X)`` returns float64 of shape (n_samples,): **higher = more anomalous**.
  Scores of a row do not depend on the other rows in the batch nor on how the data are chunked.
* ``predict(X)`` is ``score_samples(X) > threshold_`` as 0/1 and lives only here.
* ``threshold_`` comes from ``contamination`` by one shared rule
  (:func:`logad.models.thresholds.contamination_threshold` on the training or holdout scores),
  or from the detector's natural cut when ``contamination="auto"`` (probability 0.5 for
  classifiers, the Q-statistic for PCA, "any unseen event" for OOV). ``set_threshold`` /
  :func:`logad.models.thresholds.tune_threshold` replace it from a validation split.
* ``save(dir)`` / ``Detector.load(dir)`` write and read a model folder (see
  :mod:`logad.models.folder`): ``model.yml`` plus weights in a safe format, never pickle.

A subclass implements ``_fit(X, y)`` (returns the scores the threshold is taken from, or None
for "the training scores"), ``_score(X)``, and where it has learned arrays ``_save_weights`` /
``_load_weights`` for the files it lists in ``weight_files``; small fitted scalars go through
``_get_state`` / ``_set_state`` into ``model.yml``.

Sequence detectors (DeepLog, LogBERT: next issue) fit this same interface:

* ``input_kind = "sequence"``: ``X`` is a list of 1-D int64 arrays of event ids (one per
  session, variable length; :func:`logad.models._checks.check_sequences` validates it) and
  ``n_features_in_`` is the vocabulary size (``len(feature_names)`` or max id + 1). Unseen events
  must already be mapped to the vocabulary's ``<unk>`` id; larger ids are refused like a wrong
  feature count. Chunked scoring slices the list, so batch invariance is checked the same way.
* Weights are torch ``state_dict`` tensors written as ``model.safetensors`` (listed in
  ``weight_files``), read with ``safetensors.torch.load_file``; the architecture comes from
  ``get_params()`` in ``model.yml``.
* Training across workers: a torch detector (``TorchSequenceDetector``) exposes its hooks
  (``_examples``, ``_build_module``, ``_loss``, ``run_epoch``) and ``fit_with(train_fn, ...)``;
  :func:`logad.ray.train_torch.fit_distributed` runs those hooks in a Ray Train ``TorchTrainer``
  (each worker an equal share of the examples, checkpoints as safetensors on rank 0) and owns
  every Ray call. Plain ``fit`` stays the one-process path used by tests. After either path the
  threshold is set by the same shared rule and the folder is saved by the same ``save``.
"""

from __future__ import annotations

import abc
import inspect
import os
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from logad.errors import ConfigError, InputError, ModelError
from logad.models._checks import (check_contamination, check_labels, check_matrix,
                                  check_sequences, n_rows, take_rows)
from logad.models.reference import psi_reference
from logad.models.thresholds import contamination_threshold

__all__ = ["Detector", "NotFittedError", "INPUT_KINDS"]

INPUT_KINDS = ("matrix", "sequence")


class NotFittedError(ModelError):
    """A detector was used before ``fit`` (or ``load``)."""


class Detector(abc.ABC):
    """Abstract base of every logad detector (see the module docstring for the contract)."""

    #: Registry key, e.g. ``"iforest"``; written to ``model.yml``.
    name: ClassVar[str] = ""
    #: True when ``fit`` needs labels with both classes.
    supervised: ClassVar[bool] = False
    #: Rows of the training split ``fit`` should see when labels are known: ``"all"``, or
    #: ``"normal"`` for novelty detectors whose "unseen" means "not seen in normal training".
    fit_on: ClassVar[str] = "all"
    #: ``"matrix"`` (ndarray / CSR float64) or ``"sequence"`` (list of int64 event-id arrays).
    input_kind: ClassVar[str] = "matrix"
    #: What ``contamination="auto"`` means for this detector, or None if it has no natural cut.
    auto_threshold: ClassVar[str | None] = None
    #: Files ``_save_weights`` writes; ``load`` refuses any other file in the folder.
    weight_files: ClassVar[tuple[str, ...]] = ()
    #: True when the detector offers ``fit_distributed`` (torch through Ray Train).
    distributed: ClassVar[bool] = False
    #: Rows scored at once by ``score_samples`` (bounds memory; does not change the scores).
    chunk_rows: ClassVar[int] = 65536

    contamination: Any

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their current values (as passed to ``__init__``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Detector":
        """Set constructor parameters; they are checked at the next ``fit``."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(f"{self.name}: unknown parameter {key!r}; valid: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        defaults = {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _validate_params(self) -> None:
        check_contamination(self.name, self.contamination)
        if self.contamination == "auto" and self.auto_threshold is None:
            raise ConfigError(f"{self.name}: contamination='auto' has no meaning for this detector; "
                              "set contamination to the expected share of anomalies in (0, 0.5]")
        self._check_params()

    def _check_params(self) -> None:
        """Subclass hook: raise ConfigError naming a bad parameter and its value."""

    # ------------------------------------------------------------------ input
    def _check_input(self, X: Any, n_features: int | None) -> Any:
        if self.input_kind == "sequence":
            return check_sequences(X, self.name, n_features)
        return check_matrix(X, self.name, n_features)

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(X, y) "
                                 "or load a saved model folder first")

    # ------------------------------------------------------------------ fit / score / predict
    def fit(self, X: Any, y: Any = None, *, feature_names: list[str] | None = None) -> "Detector":
        """Learn from ``X`` (and ``y`` when supervised) and set the threshold.

        Parameters
        ----------
        X : ndarray or scipy.sparse CSR of shape (n_samples, n_features), float64
            (a list of int event-id arrays for ``input_kind="sequence"``).
        y : array-like of shape (n_samples,), optional
            0 normal, 1 anomalous. Required, with both classes, when ``supervised``; unsupervised
            detectors ignore it.
        feature_names : list of str, optional
            Column names (the featurizer's vocabulary), saved in ``model.yml``; taken from a
            DataFrame's columns when omitted.

        Returns
        -------
        self
        """
        self._validate_params()
        if feature_names is None and hasattr(X, "columns"):
            feature_names = [str(c) for c in X.columns]
        X = self._check_input(X, None)
        n = n_rows(X)
        if n == 0:
            raise InputError(f"{self.name}: cannot fit on zero rows")
        y = check_labels(y, n, self.name, required=self.supervised)
        if self.input_kind == "sequence":
            n_features = len(feature_names) if feature_names is not None else \
                int(max((int(s.max()) for s in X if s.size), default=-1)) + 1
            check_sequences(X, self.name, n_features)
        else:
            n_features = X.shape[1]
        if feature_names is not None:
            feature_names = [str(f) for f in feature_names]
            if len(feature_names) != n_features:
                raise InputError(f"{self.name}: {len(feature_names)} feature names for "
                                 f"{n_features} features")
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)  # a refit forgets the previous fit
        self.n_features_in_ = int(n_features)
        self.feature_names_in_ = feature_names
        ref = self._fit(X, y)
        if ref is None:
            ref = self._score_chunks(X)
        ref = np.asarray(ref, dtype=np.float64)
        if self.contamination == "auto":
            self.threshold_ = float(self._auto_threshold_value())
            self.threshold_method_ = f"auto:{self.auto_threshold}"
        else:
            self.threshold_ = contamination_threshold(ref, self.contamination)
            self.threshold_method_ = f"contamination={self.contamination}"
        self.threshold_sweep_ = None
        self.score_reference_ = psi_reference(ref)
        return self

    @abc.abstractmethod
    def _fit(self, X: Any, y: np.ndarray | None) -> np.ndarray | None:
        """Learn fitted attributes; return the scores the threshold comes from, or None."""

    @abc.abstractmethod
    def _score(self, X: Any) -> np.ndarray:
        """Scores of validated rows, higher = more anomalous; each row independent of the rest."""

    def _auto_threshold_value(self) -> float:
        """The natural cut named by ``auto_threshold`` (called after ``_fit``)."""
        raise ConfigError(f"{self.name}: contamination='auto' is not supported")

    def _score_chunks(self, X: Any) -> np.ndarray:
        n = n_rows(X)
        parts = []
        for start in range(0, n, self.chunk_rows):
            part = np.asarray(self._score(take_rows(X, start, start + self.chunk_rows)),
                              dtype=np.float64).reshape(-1)
            parts.append(part)
        out = np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
        if out.shape != (n,):
            raise ModelError(f"{self.name}: _score returned {out.shape[0]} scores for {n} rows")
        return out

    def score_samples(self, X: Any) -> np.ndarray:
        """Anomaly scores, float64 of shape (n_samples,); higher = more anomalous.

        Raises
        ------
        NotFittedError
            Before ``fit`` or ``load``.
        logad.errors.InputError
            When ``X`` has a different number of features than at fit time.
        """
        self._check_fitted()
        return self._score_chunks(self._check_input(X, self.n_features_in_))

    def predict(self, X: Any) -> np.ndarray:
        """0/1 labels: 1 where ``score_samples(X) > threshold_``."""
        self._check_fitted()
        return (self.score_samples(X) > self.threshold_).astype(np.int64)

    def set_threshold(self, threshold: float, *, method: str,
                      sweep: pd.DataFrame | None = None) -> "Detector":
        """Replace ``threshold_`` (e.g. from :func:`logad.models.thresholds.choose_threshold`).

        Parameters
        ----------
        threshold : float
            Rows with ``score > threshold`` are anomalies.
        method : str
            How it was chosen (written to ``model.yml``), e.g. ``"best_f1"``.
        sweep : pandas.DataFrame, optional
            The validation sweep, saved as ``threshold_sweep.csv``.
        """
        self._check_fitted()
        threshold = float(threshold)
        if not np.isfinite(threshold):
            raise InputError(f"{self.name}: threshold must be finite, got {threshold}")
        self.threshold_ = threshold
        self.threshold_method_ = str(method)
        self.threshold_sweep_ = sweep
        return self

    # ------------------------------------------------------------------ persistence hooks
    def _get_state(self) -> dict[str, Any]:
        """Small fitted values (YAML-safe) written under ``state`` in ``model.yml``."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``_get_state`` returned."""

    def _save_weights(self, folder: str | os.PathLike) -> None:
        """Write the files named in ``weight_files`` into ``folder``."""

    def _load_weights(self, folder: str | os.PathLike) -> None:
        """Read the files named in ``weight_files`` from ``folder``."""

    def save(self, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> str:
        """Write the model folder atomically; see :func:`logad.models.folder.save_detector`."""
        from logad.models.folder import save_detector
        return save_detector(self, path, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Detector":
        """Read a model folder; see :func:`logad.models.folder.load_detector`."""
        # lazy, and the one import back into the registry (which imports this module): the
        # registered classes are the only ones a folder may name (tests/test_import_graph.py)
        from logad.models.registry import load_detector
        det = load_detector(path)
        if not isinstance(det, cls):
            raise ModelError(f"{path}: holds a {type(det).__name__}, not a {cls.__name__}")
        return det
