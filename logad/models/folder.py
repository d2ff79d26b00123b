"""The model folder: ``model.yml`` plus weights in safe formats; never pickle.

Layout of a folder written by :func:`save_detector` (atomically, through
:func:`logad.io.atomic_dir`)::

    model.yml             detector name, class, params, threshold, features, versions, extra
    <weight files>        exactly the detector's ``weight_files``: ``*.npy`` (read with
                          allow_pickle=False), ``model.json`` (XGBoost), ``estimator.skops``
                          (scikit-learn, loaded with an explicit type allowlist),
                          ``model.safetensors`` (torch, next issue)
    threshold_sweep.csv   optional: the validation sweep behind the threshold

:func:`load_detector` refuses a detector name that is not in the registry, a class that is not
the registered one, and any file it does not expect; it warns when the folder was written by a
different logad version.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

import logad
from logad.errors import ModelError
from logad.io import atomic_dir, local_dir

__all__ = ["MODEL_FILE", "SWEEP_FILE", "FORMAT_VERSION", "save_detector", "load_detector",
           "read_model_yml", "git_commit"]

log = logging.getLogger(__name__)

MODEL_FILE = "model.yml"
SWEEP_FILE = "threshold_sweep.csv"
#: The fitted vocabularies of a trained model (plain JSON, see logad.models.trained).
FEATURES_FILE = "features.json"
FORMAT_VERSION = 1


def git_commit() -> str | None:
    """The commit of the logad source tree, or None when not in a git checkout."""
    root = Path(logad.__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def _yaml_safe(value: Any, where: str) -> Any:
    """Plain YAML types only (numpy scalars become Python numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _yaml_safe(v, where) for k, v in value.items()}
    raise ModelError(f"cannot write {where} to {MODEL_FILE}: {type(value).__name__} is not a "
                     "plain YAML value (use numbers, strings, lists or dicts)")


def save_detector(det: Any, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> str:
    """Write ``det`` to the folder ``path`` (replacing it atomically) and return the path.

    Parameters
    ----------
    det : logad.models.base.Detector
        A fitted detector.
    path : str or PathLike
        The model folder.
    extra : dict, optional
        Provenance the caller adds under ``extra`` in ``model.yml`` (features kind, training
        data fingerprint, split, metrics...). Defaults to the ``extra`` of a loaded model.
    """
    det._check_fitted()
    if extra is None:
        extra = dict(getattr(det, "metadata_", {}).get("extra") or {})
    cls = type(det)
    meta = {
        "format": FORMAT_VERSION,
        "detector": cls.name,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "input_kind": cls.input_kind,
        "supervised": cls.supervised,
        "params": _yaml_safe(det.get_params(), "params"),
        "threshold": float(det.threshold_),
        "threshold_method": det.threshold_method_,
        "n_features_in": int(det.n_features_in_),
        "feature_names": det.feature_names_in_,
        "score_reference": _yaml_safe(det.score_reference_, "score_reference"),
        "state": _yaml_safe(det._get_state(), "state"),
        "files": list(cls.weight_files),
        "logad_version": logad.__version__,
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "extra": _yaml_safe(extra, "extra"),
    }
    with atomic_dir(path) as tmp:
        det._save_weights(tmp)
        written = sorted(p.name for p in tmp.iterdir())
        if written != sorted(cls.weight_files):
            raise ModelError(f"{cls.name}: _save_weights wrote {written}, expected "
                             f"{sorted(cls.weight_files)}")
        if det.threshold_sweep_ is not None:
            det.threshold_sweep_.to_csv(tmp / SWEEP_FILE, index=False)
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        (tmp / MODEL_FILE).write_text(yaml.dump(meta, Dumper=dumper, sort_keys=False,
                                                allow_unicode=True), encoding="utf-8")
    log.debug("saved %s to %s", cls.name, path)
    return str(path)


def read_model_yml(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check the ``model.yml`` of a model folder (no weights are touched); one on
    object storage is fetched to the local cache first."""
    folder = local_dir(path, "model folder")
    meta_path = folder / MODEL_FILE
    if not meta_path.is_file():
        raise ModelError(f"{folder}: not a model folder (no {MODEL_FILE}); train a model first "
                         "or point to the folder that `logad train` wrote")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        meta = yaml.load(meta_path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise ModelError(f"{meta_path}: not valid YAML: {exc}") from None
    missing = [k for k in ("format", "detector", "class", "params", "threshold", "n_features_in")
               if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise ModelError(f"{meta_path}: missing key(s) {', '.join(missing)}")
    if meta["format"] != FORMAT_VERSION:
        raise ModelError(f"{meta_path}: model folder format {meta['format']!r} is not supported "
                         f"(this logad reads format {FORMAT_VERSION})")
    return meta


def load_detector(path: str | os.PathLike, detectors: Mapping[str, type]) -> Any:
    """Load a model folder written by :func:`save_detector`.

    Parameters
    ----------
    path : path
        The model folder.
    detectors : mapping of str to type
        The detectors that may be loaded, by name (the registry's ``DETECTORS``; this module
        does not import the registry, which imports every detector, which import this module).
        :func:`logad.models.registry.load_detector` passes it.

    Raises
    ------
    logad.errors.ModelError
        Unknown detector or class, an unexpected or missing file, or weights that fail the
        safety checks.
    """
    folder = local_dir(path, "model folder")
    meta = read_model_yml(folder)
    name = meta["detector"]
    cls = detectors.get(name)
    if cls is None:
        raise ModelError(f"{folder / MODEL_FILE}: detector {name!r} is not registered "
                         f"(known: {', '.join(sorted(detectors))}); refusing to load it")
    expected_class = f"{cls.__module__}.{cls.__qualname__}"
    if meta["class"] != expected_class:
        raise ModelError(f"{folder / MODEL_FILE}: class {meta['class']!r} is not the registered "
                         f"class for {name!r} ({expected_class}); refusing to load it")
    allowed = {MODEL_FILE, SWEEP_FILE, FEATURES_FILE, *cls.weight_files}
    for entry in sorted(folder.iterdir()):
        if entry.name not in allowed or not entry.is_file():
            raise ModelError(f"{folder}: unexpected file {entry.name!r} in the model folder "
                             f"(a {name} folder holds only {', '.join(sorted(allowed))}); "
                             "remove it or re-save the model")
    for fname in cls.weight_files:
        if not (folder / fname).is_file():
            raise ModelError(f"{folder}: missing weight file {fname!r}")
    if meta.get("logad_version") != logad.__version__:
        warnings.warn(f"{folder}: model written by logad {meta.get('logad_version')}, this is "
                      f"logad {logad.__version__}; scores may differ", UserWarning, stacklevel=2)
    params = meta["params"] or {}
    unknown = sorted(set(params) - set(cls._param_names()))
    if unknown:
        raise ModelError(f"{folder / MODEL_FILE}: unknown parameter(s) {unknown} for {name}")
    det = cls(**params)
    det.n_features_in_ = int(meta["n_features_in"])
    det.feature_names_in_ = meta.get("feature_names")
    det.threshold_ = float(meta["threshold"])
    det.threshold_method_ = meta.get("threshold_method", "unknown")
    det.score_reference_ = meta.get("score_reference")
    sweep = folder / SWEEP_FILE
    det.threshold_sweep_ = pd.read_csv(sweep) if sweep.is_file() else None
    det._set_state(meta.get("state") or {})
    det._load_weights(folder)
    det.metadata_ = meta
    return det
