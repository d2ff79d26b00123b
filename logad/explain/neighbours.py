"""Nearest normal neighbour: for a flagged session, the closest normal session and what differs."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["sample_ids", "nearest_normal"]


def sample_ids(ids: Sequence[str], n: int) -> list[str]:
    """``n`` ids chosen by the hash of the id (all when ``n`` is 0 or more than there are).

    The choice depends on the ids only, not on their order or on how they were read.
    """
    ids = list(ids)
    if n <= 0 or n >= len(ids):
        return sorted(ids)
    keyed = sorted(ids, key=lambda s: (hashlib.blake2b(s.encode(), digest_size=8).digest(), s))
    return sorted(keyed[:n])


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


def nearest_normal(X_flag, flag_ids: Sequence[str], X_norm, norm_ids: Sequence[str],
                   names: Sequence[str], top_diff: int = 8) -> list[dict]:
    """For each flagged row the normal row at the smallest Euclidean distance (ties: smaller id).

    Returns one dict a flagged session: ``session_id``, ``neighbour``, ``distance`` and
    ``differs``: the features whose values differ most (flagged value, neighbour value).
    """
    A, B = _dense(X_flag), _dense(X_norm)
    if len(norm_ids) == 0:
        return [{"session_id": s, "neighbour": None, "distance": None, "differs": []} for s in flag_ids]
    order = np.argsort(np.asarray(norm_ids, dtype=object), kind="stable")
    B, norm_ids = B[order], [norm_ids[i] for i in order]
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
    d2 = np.maximum(d2, 0.0)
    out = []
    for i, sid in enumerate(flag_ids):
        j = int(np.argmin(d2[i]))  # the first minimum: the smallest id among equals
        diff = A[i] - B[j]
        idx = [int(k) for k in np.lexsort((np.arange(len(diff)), -np.abs(diff))) if diff[k] != 0][:top_diff]
        out.append({"session_id": sid, "neighbour": norm_ids[j], "distance": float(np.sqrt(d2[i, j])),
                    "differs": [{"feature": names[k], "flagged": float(A[i, k]),
                                 "neighbour": float(B[j, k])} for k in idx]})
    return out
