"""Reference points a model takes from its own scores: the drift reference and the FPR cut.

:func:`psi_reference` bins the training scores at their quantiles (a fitted detector keeps it as
``score_reference_``; :func:`logad.evaluate.metrics.psi` compares scored data with it);
:func:`threshold_at_fpr` is the lowest cut whose false-positive rate on normal scores is at most
alpha (the ``fpr`` threshold rule and the "recall at FPR" metric). Pure NumPy; they live beside
the models so that :mod:`logad.models` never imports :mod:`logad.evaluate` (which reads model
folders): the two packages import in one direction only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["psi_reference", "threshold_at_fpr"]


def threshold_at_fpr(normal_scores: Any, alpha: float) -> float:
    """The lowest threshold whose FPR on ``normal_scores`` is at most ``alpha``.

    At most ``floor(alpha * n)`` normal scores are ``> threshold``.

    Examples
    --------
    >>> threshold_at_fpr([1.0, 2.0, 3.0, 4.0], 0.25)
    3.0
    """
    desc = np.sort(np.asarray(normal_scores, dtype=np.float64).ravel())[::-1]
    if desc.size == 0:
        return math.nan
    allowed = int(np.floor(float(alpha) * desc.size + 1e-9))
    return float(desc[allowed]) if allowed < desc.size else float(np.nextafter(desc[-1], -np.inf))


def psi_reference(train_scores: Any, n_bins: int = 10) -> dict[str, list[float]]:
    """Bins at the quantiles of ``train_scores`` and the training share in each.

    Returns ``{"edges": inner edges (ascending, unique), "proportions": len(edges) + 1 shares}``;
    bin ``i`` holds scores in ``(edges[i-1], edges[i]]``, the outer bins are open-ended.
    """
    s = np.asarray(train_scores, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if s.size == 0:
        return {"edges": [], "proportions": [1.0]}
    # edges are training scores themselves (inverted CDF), so tied scores stay in one bin
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = np.unique(np.quantile(s, qs, method="inverted_cdf"))
    counts = np.bincount(np.searchsorted(edges, s, side="left"), minlength=edges.size + 1)
    return {"edges": edges.tolist(), "proportions": (counts / s.size).tolist()}
