"""Quality floors on real data: labelled HDFS blocks from the shared data folder.

Event counts per block come from a crude template key (component + message with block ids,
addresses, paths and numbers masked), so these tests need neither the parser nor the
featurizers. Floors sit below the measured ROC-AUC (noted beside each) with some margin.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import defaultdict

import numpy as np
import pytest

from logad.evaluate.metrics import roc_auc
from logad.models.registry import build_detector
from tests.conftest import require_shared
from tests.models.conftest import training_rows, Split

_MASK = re.compile(r"blk_-?\d+|\d+\.\d+\.\d+\.\d+(:\d+)?|/[\w/.\-]+|\b\d+\b")
_BLOCK = re.compile(r"blk_-?\d+")

FLOORS = {  # model: ROC-AUC floor (measured on this split when written)
    "sequence_lr_counts": 0.95,        # 0.99
    "sequence_dt_counts": 0.95,        # 1.00
    "sequence_rf_counts": 0.95,        # 1.00
    "sequence_xgb_counts": 0.95,       # 0.99
    "sequence_pca_counts": 0.90,       # 0.97
    "sequence_if_counts": 0.90,        # 0.95
    "sequence_baseline_counts": 0.75,  # 0.84
    "sequence_oov_counts": 0.60,       # 0.67: HDFS anomalies mostly miss events, not add new ones
}


def _block_counts(folder) -> tuple[np.ndarray, np.ndarray]:
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    vocab: dict[str, int] = {}
    with gzip.open(folder / "HDFS_loglead2pct_shared.log.gz", "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 5)
            block = _BLOCK.search(line)
            if block is None or len(parts) < 6:
                continue
            key = parts[4] + " " + _MASK.sub("<*>", parts[5])
            counts[block.group()][vocab.setdefault(key, len(vocab))] += 1
    with open(folder / "anomaly_label.csv", encoding="utf-8") as f:
        labels = {r["BlockId"]: int(r["Label"] == "Anomaly") for r in csv.DictReader(f)}
    blocks = [b for b in labels if b in counts]
    X = np.zeros((len(blocks), len(vocab)))
    for i, b in enumerate(blocks):
        for j, c in counts[b].items():
            X[i, j] = c
    return X, np.array([labels[b] for b in blocks])


@pytest.fixture(scope="module")
def hdfs_split() -> Split:
    X, y = _block_counts(require_shared("hdfs_loglead_2pct"))
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[: len(y) // 2], perm[len(y) // 2:]
    return Split(X[tr], y[tr], X[te], y[te])


@pytest.mark.parametrize("model", sorted(FLOORS))
def test_hdfs_quality_floor(model, hdfs_split):
    det = build_detector(model)
    X, y = training_rows(det.name, det.supervised, hdfs_split)
    det.fit(X, y)
    auc = roc_auc(hdfs_split.y_test, det.score_samples(hdfs_split.X_test))
    assert auc >= FLOORS[model], f"{model}: ROC-AUC {auc:.3f} below {FLOORS[model]}"
