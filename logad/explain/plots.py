"""SHAP summary plots as PNG: mean |SHAP| bars and a beeswarm (one dot a session and feature)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["shap_bar_png", "shap_beeswarm_png"]


def _top(values: np.ndarray, k: int) -> np.ndarray:
    imp = np.abs(values).mean(0)
    return np.lexsort((np.arange(len(imp)), -imp))[:k]


def _short(name: str, n: int = 60) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def shap_bar_png(values: np.ndarray, names: Sequence[str], path: str | os.PathLike, k: int = 15,
                 title: str = "mean |SHAP|") -> str:
    """Bars of the ``k`` features with the largest mean |SHAP| over the explained sessions."""
    idx = _top(values, k)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(idx) + 1.2))
    ax.barh([_short(names[i]) for i in idx], np.abs(values[:, idx]).mean(0), color="#3b75af")
    ax.set_xlabel("mean |SHAP value| (towards anomalous)")
    ax.set_title(title)
    return _save(fig, path)


def shap_beeswarm_png(values: np.ndarray, X: np.ndarray, names: Sequence[str],
                      path: str | os.PathLike, k: int = 15, title: str = "SHAP values") -> str:
    """One row per top feature: each session's SHAP value, coloured by the feature's value."""
    idx = _top(values, k)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(idx) + 1.4))
    rng = np.random.default_rng(0)
    for row, j in enumerate(idx):
        v, x = values[:, j], X[:, j]
        span = np.ptp(x) or 1.0
        ax.scatter(v, row + rng.uniform(-0.3, 0.3, len(v)), c=(x - x.min()) / span, cmap="coolwarm",
                   s=10, vmin=0, vmax=1)
    ax.set_yticks(range(len(idx)), [_short(names[j]) for j in idx])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("SHAP value (positive: towards anomalous); colour: feature value low → high")
    ax.set_title(title)
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> str:
    from logad.io import atomic_path

    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return str(path)
