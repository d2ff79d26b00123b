"""A trained model: the featurizers of a named model plus its fitted detector, as one folder.

The folder is the detector's folder (:mod:`logad.models.folder`) plus ``features.json``, the
fitted vocabularies as plain JSON, so a model trained on one corpus can score another: events it
never saw map to the featurizers' ``<unk>`` slot and are counted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from logad.errors import ModelError
from logad.features import Featurizer, featurizer_from_dict, row_labels
from logad.io import atomic_dir, local_dir
from logad.models.base import Detector
from logad.models.folder import read_model_yml, save_detector
from logad.models.registry import ModelSpec, get_model, load_detector

__all__ = ["FEATURES_FILE", "TrainedModel", "featurize", "labels_of"]

FEATURES_FILE = "features.json"


def featurize(featurizers: Sequence[Featurizer], table: pa.Table) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
    """Transform ``table`` with every featurizer and stack the columns side by side.

    Returns the CSR matrix (float64), the feature names (prefixed by kind when several) and the
    number of unknown tokens of each row. The ``events`` featurizer (sequence detectors) stands
    alone and gives a list of int64 event-id arrays instead of the matrix.
    """
    if any(getattr(f, "output", "matrix") == "sequence" for f in featurizers):
        if len(featurizers) != 1:
            raise ModelError("an event-id sequence featurizer ('events') cannot be combined with others")
        seqs, unk = featurizers[0].transform_rows(table)
        return seqs, featurizers[0].feature_names(), np.asarray(unk, dtype=np.int64)
    mats, names, unknown = [], [], None
    several = len(featurizers) > 1
    for f in featurizers:
        X, unk = f.transform_rows(table)
        fnames = f.feature_names()
        mats.append(X)
        prefix = f"{type(f).__name__}:" if several else ""
        names += [f"{prefix}{n}" for n in fnames]
        unk = np.asarray(unk, dtype=np.int64).ravel()
        unknown = unk if unknown is None else unknown + unk
    X = mats[0] if len(mats) == 1 else sp.hstack(mats, format="csr")
    return X.tocsr().astype(np.float64), names, unknown


def labels_of(table: pa.Table, level: str) -> np.ndarray:
    """Row labels (1, 0, or -1 for unknown) at ``level``."""
    return row_labels(table, level)


@dataclass
class TrainedModel:
    """What ``logad train`` writes and ``logad score`` loads."""

    spec: ModelSpec
    featurizers: list[Featurizer]
    detector: Detector

    def featurize(self, table: pa.Table) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
        return featurize(self.featurizers, table)

    def score(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Scores (higher = more anomalous) and unknown-token counts of the rows of ``table``."""
        X, _, unknown = self.featurize(table)
        return self.detector.score_samples(X), unknown

    def save(self, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> str:
        """Write the folder atomically: the detector's files plus ``features.json``."""
        meta_extra = {"model": self.spec.name, "level": self.spec.level, "features": self.spec.features,
                      **(extra or {})}
        with atomic_dir(path) as tmp:
            save_detector(self.detector, tmp, extra=meta_extra)
            doc = {"model": self.spec.name, "featurizers": [f.to_dict() for f in self.featurizers]}
            (tmp / FEATURES_FILE).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return str(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainedModel":
        """Load a folder written by :meth:`save`; refuses folders that hold anything else. A
        folder on object storage (``s3://...``, published by ``logad train``) is fetched to the
        local cache first (:func:`logad.io.fetch_dir`)."""
        folder = local_dir(path, "model folder")
        meta = read_model_yml(folder)
        name = (meta.get("extra") or {}).get("model")
        if not name:
            raise ModelError(f"{folder}: model.yml names no model (extra.model); "
                             "was it written by `logad train`?")
        spec = get_model(name)
        feats_path = folder / FEATURES_FILE
        if not feats_path.is_file():
            raise ModelError(f"{folder}: missing {FEATURES_FILE} (the fitted vocabularies)")
        try:
            doc = json.loads(feats_path.read_text(encoding="utf-8"))
            featurizers = [featurizer_from_dict(d) for d in doc["featurizers"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{feats_path}: not a logad features file: {exc}") from None
        detector = load_detector(folder)
        return cls(spec, featurizers, detector)
