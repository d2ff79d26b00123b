"""Weight files of a model folder in safe formats: ``.npy`` without pickle, skops with an allowlist.

The detectors' ``_save_weights`` / ``_load_weights`` call these; :mod:`logad.models.folder`
writes and checks the folder around them. (Torch weights: :mod:`logad.models._torch`,
safetensors.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from logad.errors import ModelError

__all__ = ["save_npy", "load_npy", "dump_skops", "load_skops"]


def save_npy(folder: str | os.PathLike, fname: str, array: np.ndarray) -> None:
    """Write a numeric array as ``.npy`` (no object arrays)."""
    arr = np.asarray(array)
    if arr.dtype == object:
        raise ModelError(f"refusing to write object array {fname}")
    np.save(Path(folder) / fname, arr, allow_pickle=False)


def load_npy(folder: str | os.PathLike, fname: str,
             shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """Read an ``.npy`` written by :func:`save_npy` with ``allow_pickle=False``.

    ``shape`` (None entries match any length) is checked when given.
    """
    path = Path(folder) / fname
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ModelError(f"{path}: not a plain numeric .npy array: {exc}") from None
    if shape is not None and (arr.ndim != len(shape) or
                              any(s is not None and a != s for a, s in zip(arr.shape, shape))):
        raise ModelError(f"{path}: array of shape {arr.shape}, expected {shape}")
    return arr


def dump_skops(estimator: Any, folder: str | os.PathLike, fname: str) -> None:
    """Write a scikit-learn estimator with ``skops.io.dump``."""
    import skops.io as sio

    sio.dump(estimator, Path(folder) / fname)


def load_skops(folder: str | os.PathLike, fname: str, *, expected_class: type,
               allowed_types: Iterable[str]) -> Any:
    """Read a skops file, trusting only the types in ``allowed_types``.

    ``skops.io.get_untrusted_types`` lists the types skops does not trust by default; any not in
    ``allowed_types`` makes loading fail with a ModelError naming them. The loaded object must be
    an ``expected_class``.
    """
    import skops.io as sio

    path = Path(folder) / fname
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # corrupt archive: skops raises zipfile/JSON errors
        raise ModelError(f"{path}: not a readable skops file: {exc}") from None
    unexpected = sorted(set(untrusted) - set(allowed_types))
    if unexpected:
        raise ModelError(f"{path}: holds types outside the allowlist: {', '.join(unexpected)}; "
                         "refusing to load it")
    obj = sio.load(path, trusted=sorted(untrusted))
    if type(obj) is not expected_class:
        raise ModelError(f"{path}: holds a {type(obj).__name__}, expected {expected_class.__name__}")
    return obj
