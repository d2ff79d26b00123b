"""Save and load fitted featurizers as plain JSON (no pickle)."""

from __future__ import annotations

import os

from logad.errors import ModelError
from logad.features.base import Featurizer
from logad.features.registry import featurizer_from_dict
from logad.io import read_json, write_json

__all__ = ["save_featurizer", "load_featurizer"]


def save_featurizer(featurizer: Featurizer, path: str | os.PathLike) -> None:
    """Write ``featurizer.to_dict()`` to ``path`` atomically."""
    write_json(featurizer.to_dict(), path)


def load_featurizer(path: str | os.PathLike) -> Featurizer:
    """Read a featurizer written by :func:`save_featurizer`; raises :class:`ModelError` if it is
    missing or not a featurizer state."""
    try:
        state = read_json(path)
    except FileNotFoundError:
        raise ModelError(f"featurizer state {path} not found") from None
    except ValueError as exc:
        raise ModelError(f"{path}: not JSON ({exc})") from None
    try:
        return featurizer_from_dict(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not a logad featurizer state ({exc})") from None
