"""The explicit registry of detectors and of named models (features + detector).

Adding a detector is one new module and one line in :data:`DETECTORS` (``"name":
"module:Class"``); a named model is one line in :data:`MODELS`. Nothing is discovered by scanning
modules. A detector's module is imported when its class is first looked up, so a process that
loads one model (a score worker) imports that detector's backend only, not every backend
(scikit-learn, XGBoost, torch).

Parameters of a named model resolve in this order, later wins::

    detector class defaults  <  configs/models.yaml detectors.<detector>
      <  ModelSpec.params  <  configs/models.yaml models.<name>  <  overrides (CLI flags)
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import MutableMapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from logad.config import CONFIG_DIR, deep_merge, load_yaml
from logad.errors import ConfigError

if TYPE_CHECKING:
    from logad.models.base import Detector

__all__ = ["DETECTORS", "MODELS", "FEATURE_KINDS", "LEVELS", "ModelSpec", "get_detector_class",
           "get_model", "load_models_config", "resolve_params", "build_detector", "load_detector"]


class LazyClasses(MutableMapping):
    """``{name: class}`` whose values are given as ``"module:Class"`` and imported on lookup.

    Listing the names (``in``, ``len``, iteration over keys) imports nothing; ``[name]``,
    ``.get`` and ``.items()`` import the classes they return.

    >>> classes = LazyClasses({"od": "collections:OrderedDict"})
    >>> "od" in classes, classes["od"].__name__
    (True, 'OrderedDict')
    """

    def __init__(self, entries: Mapping[str, str | type]) -> None:
        self._entries: dict[str, str | type] = dict(entries)

    def __getitem__(self, name: str) -> type:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attr)
        return entry

    def __setitem__(self, name: str, value: str | type) -> None:
        self._entries[name] = value

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LazyClasses({list(self._entries)})"


DETECTORS: MutableMapping[str, type[Detector]] = LazyClasses({
    "baseline": "logad.models.baseline:BaselineDetector",
    "pca": "logad.models.pca:PCADetector",
    "iforest": "logad.models.iforest:IForestDetector",
    "oov": "logad.models.oov:OOVDetector",
    "lr": "logad.models.lr:LRDetector",
    "dt": "logad.models.dt:DTDetector",
    "rf": "logad.models.rf:RFDetector",
    "xgb": "logad.models.xgb:XGBDetector",
    "deeplog": "logad.models.deeplog:DeepLogDetector",
    "logbert": "logad.models.logbert:LogBERTDetector",
    "mscred": "logad.models.mscred:MSCREDDetector",
    "logrobust": "logad.models.logrobust:LogRobustDetector",
})

#: Feature kinds a model may ask for; combine with "+" (e.g. "counts+numeric").
FEATURE_KINDS = ("counts", "tfidf", "words", "trigrams", "numeric",
                 "events")  # events: ordered event-id arrays for the torch sequence detectors
LEVELS = ("event", "sequence")
MODELS_CONFIG = "models.yaml"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A named combination of a feature kind and a detector (LO2-chain style).

    Attributes
    ----------
    name : str
        ``<level>_<detector>_<features>``, e.g. ``sequence_if_counts``.
    level : {"event", "sequence"}
        One row per log event, or one row per session.
    features : str
        One of :data:`FEATURE_KINDS` or a "+" combination of them.
    detector : str
        A key of :data:`DETECTORS`.
    params : Mapping
        Detector parameters specific to this model (over the detector defaults).
    description : str
        One line for ``logad models`` listings and reports.
    """

    name: str
    level: str
    features: str
    detector: str
    params: Mapping[str, Any]
    description: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"model {self.name}: level must be one of {LEVELS}, got {self.level!r}")
        parts = self.features.split("+")
        if not parts or any(p not in FEATURE_KINDS for p in parts) or len(set(parts)) != len(parts):
            raise ConfigError(f"model {self.name}: features must be one of {FEATURE_KINDS} or a '+' "
                              f"combination, got {self.features!r}")
        if self.detector not in DETECTORS:
            raise ConfigError(f"model {self.name}: unknown detector {self.detector!r}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __reduce__(self) -> tuple:
        # picklable (a read-only mapping is not): the score runner sends loaded models to its actors
        return (type(self), (self.name, self.level, self.features, self.detector, dict(self.params),
                             self.description))

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        """The feature kinds, e.g. ``("counts", "numeric")``."""
        return tuple(self.features.split("+"))


def _spec(name: str, params: Mapping[str, Any], description: str) -> ModelSpec:
    level, det, features = name.split("_", 2)
    det = {"if": "iforest"}.get(det, det)
    return ModelSpec(name, level, features.replace("_", "+"), det, params, description)


MODELS: dict[str, ModelSpec] = {s.name: s for s in [
    _spec("event_lr_words", {}, "event level: logistic regression on message word counts"),
    _spec("event_dt_trigrams", {}, "event level: decision tree on character trigram counts"),
    _spec("event_xgb_words", {}, "event level: XGBoost on message word counts"),
    _spec("event_oov_words", {}, "event level: share of words never seen in training (no labels)"),
    # Session rows are independent, so C is chosen by cross-validation on them; event-level rows
    # are lines of sessions, and folds over lines would put one session on both sides.
    _spec("sequence_lr_words", {"C": "cv"}, "session level: logistic regression on word counts"),
    _spec("sequence_lr_counts", {"C": "cv"},
          "session level: logistic regression on event-count vectors"),
    _spec("sequence_dt_counts", {}, "session level: decision tree on event-count vectors"),
    _spec("sequence_rf_counts", {}, "session level: random forest on event-count vectors"),
    _spec("sequence_xgb_counts", {"zero_as_missing": False},
          "session level: XGBoost on event-count vectors"),
    _spec("sequence_xgb_counts_numeric", {"zero_as_missing": False},
          "session level: XGBoost on event counts plus numeric session features"),
    _spec("sequence_if_counts", {}, "session level: isolation forest on event counts (no labels)"),
    _spec("sequence_if_tfidf", {}, "session level: isolation forest on TF-IDF event vectors"),
    _spec("sequence_pca_counts", {},
          "session level: loglizer PCA, residual-subspace SPE with Q-statistic (no labels)"),
    _spec("sequence_pca_tfidf", {},
          "session level: loglizer PCA on TF-IDF event vectors (loglizer's HDFS setting)"),
    _spec("sequence_baseline_counts", {},
          "session level: new-event share plus EWM frequency shift (no labels)"),
    _spec("sequence_oov_counts", {}, "session level: share of events unseen in training"),
    # torch sequence detectors read the ordered event ids ("events"; one name part fewer)
    ModelSpec("sequence_deeplog", "sequence", "events", "deeplog", {},
              "session level: DeepLog next-event LSTM, top-k misses (no labels)"),
    ModelSpec("sequence_logbert", "sequence", "events", "logbert", {},
              "session level: LogBERT masked-key transformer + hypersphere (no labels)"),
    ModelSpec("window_mscred", "sequence", "events", "mscred", {},
              "session level: MS-CRED signature-matrix ConvLSTM reconstruction (no labels)"),
    ModelSpec("sequence_logrobust", "sequence", "events", "logrobust", {},
              "session level: LogRobust-style attention BiLSTM on learned embeddings"),
]}


def get_detector_class(name: str) -> type[Detector]:
    """The detector class registered as ``name``."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}") from None


def load_detector(path: str | os.PathLike) -> Detector:
    """Load a model folder holding one of the registered :data:`DETECTORS` (see
    :func:`logad.models.folder.load_detector`, which is handed this table and imports only the
    class the folder names)."""
    from logad.models.folder import load_detector as load_folder

    return load_folder(path, DETECTORS)


def get_model(name: str) -> ModelSpec:
    """The :class:`ModelSpec` called ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def load_models_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check ``configs/models.yaml`` (or ``path``).

    Returns ``{"detectors": {name: params}, "models": {name: params}, "threshold": {...}}``;
    ``threshold`` (``method``: best_f1 | percentile | fpr | none, with ``q`` / ``alpha``) says
    how to re-choose the threshold on the validation split.
    """
    cfg = load_yaml(path if path is not None else CONFIG_DIR / MODELS_CONFIG)
    unknown = sorted(set(cfg) - {"detectors", "models", "threshold"})
    if unknown:
        raise ConfigError(f"{MODELS_CONFIG}: unknown top-level key(s) {unknown}; "
                          "expected 'detectors', 'models' and 'threshold'")
    from logad.models.thresholds import THRESHOLD_METHODS

    method = (cfg.get("threshold") or {}).get("method", "none")
    if method not in (*THRESHOLD_METHODS, "none"):
        raise ConfigError(f"{MODELS_CONFIG}: threshold.method must be one of "
                          f"{[*THRESHOLD_METHODS, 'none']}, got {method!r}")
    for det in cfg.get("detectors") or {}:
        get_detector_class(det)
    for model in cfg.get("models") or {}:
        get_model(model)
    return cfg


def resolve_params(model: str | ModelSpec, config: Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Detector parameters of a named model (see the module docstring for the order).

    Parameters
    ----------
    model : str or ModelSpec
    config : mapping, optional
        A models config as returned by :func:`load_models_config`; read from
        ``configs/models.yaml`` when omitted.
    overrides : mapping, optional
        Parameter values that win over everything (None values are skipped).

    Returns
    -------
    dict
        Only parameters the detector accepts; an unknown name raises ConfigError.
    """
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    cfg = load_models_config() if config is None else config
    params = deep_merge({}, (cfg.get("detectors") or {}).get(spec.detector) or {})
    params = deep_merge(params, dict(spec.params))
    params = deep_merge(params, (cfg.get("models") or {}).get(spec.name) or {})
    params = deep_merge(params, {k: v for k, v in (overrides or {}).items() if v is not None})
    valid = DETECTORS[spec.detector]._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"model {spec.name}: unknown parameter(s) {unknown} for detector "
                          f"{spec.detector}; valid: {', '.join(valid)}")
    return params


def build_detector(model: str | ModelSpec, config: Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> Detector:
    """An unfitted detector for a named model with its resolved parameters.

    Examples
    --------
    >>> build_detector("sequence_pca_counts", config={}).name
    'pca'
    """
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    return DETECTORS[spec.detector](**resolve_params(spec, config, overrides))
