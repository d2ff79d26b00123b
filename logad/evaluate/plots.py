"""PNG plots of a scored split: PR curve, ROC curve, score histogram, confusion matrix.

Figures are drawn with matplotlib's object API on the Agg canvas (no ``pyplot``, no global
backend switch, safe in worker threads) and each PNG is written atomically, in one draw: the
tight layout is placed first, then the figure drawn once (``savefig`` with a layout engine draws
it twice, once without output to place it; the PNG is the same byte for byte).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from logad.evaluate.metrics import average_precision, confusion, roc_auc
from logad.io import atomic_path

__all__ = ["PLOT_NAMES", "write_plots", "pr_curve_figure", "roc_curve_figure",
           "score_histogram_figure", "confusion_matrix_figure"]

PLOT_NAMES = ("pr_curve", "roc_curve", "score_histogram", "confusion_matrix")


def _figure(size: tuple[float, float] = (5.0, 4.0)) -> Figure:
    fig = Figure(figsize=size, dpi=100, layout="tight")
    FigureCanvasAgg(fig)
    return fig


def _unavailable(title: str, why: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def _both_classes(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < int(y.sum()) < y.size


def pr_curve_figure(y: np.ndarray, scores: np.ndarray, threshold: float) -> Figure:
    """Precision-recall curve with the operating point at ``threshold`` marked."""
    from sklearn.metrics import precision_recall_curve

    if not _both_classes(y):
        return _unavailable("Precision-recall", "undefined: the labels hold one class only")
    precision, recall, _ = precision_recall_curve(y, scores)
    fig = _figure()
    ax = fig.add_subplot()
    ax.step(recall, precision, where="post", label=f"AP = {average_precision(y, scores):.3f}")
    pred = scores > threshold
    tp = int((pred & (y == 1)).sum())
    if pred.any():
        ax.plot([tp / y.sum()], [tp / pred.sum()], "o", color="C3", label="threshold")
    ax.axhline(y.mean(), color="grey", linestyle=":", label="random")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.05),
           title="Precision-recall")
    ax.legend(loc="lower left")
    return fig


def roc_curve_figure(y: np.ndarray, scores: np.ndarray, threshold: float) -> Figure:
    """ROC curve with the operating point at ``threshold`` marked."""
    from sklearn.metrics import roc_curve

    if not _both_classes(y):
        return _unavailable("ROC", "undefined: the labels hold one class only")
    fpr, tpr, _ = roc_curve(y, scores)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, label=f"ROC-AUC = {roc_auc(y, scores):.3f}")
    pred = scores > threshold
    ax.plot([pred[y == 0].mean()], [pred[y == 1].mean()], "o", color="C3", label="threshold")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1), ylim=(0, 1.02),
           title="ROC")
    ax.legend(loc="lower right")
    return fig


def score_histogram_figure(y: np.ndarray | None, scores: np.ndarray, threshold: float) -> Figure:
    """Histogram of scores per label (log counts) with the threshold as a vertical line."""
    fig = _figure((6.0, 4.0))
    ax = fig.add_subplot()
    finite = scores[np.isfinite(scores)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    lo, hi = min(lo, threshold), max(hi, threshold)
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 51)
    if y is None:
        ax.hist(finite, bins=bins, color="C0", alpha=0.7, label=f"all (n={finite.size})")
    else:
        for label, name, color in ((0, "normal", "C0"), (1, "anomalous", "C3")):
            part = scores[(y == label) & np.isfinite(scores)]
            if part.size:
                ax.hist(part, bins=bins, color=color, alpha=0.6, label=f"{name} (n={part.size})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_yscale("log")
    ax.set(xlabel="anomaly score (higher = more anomalous)", ylabel="rows", title="Scores")
    ax.legend()
    return fig


def confusion_matrix_figure(y: np.ndarray, scores: np.ndarray, threshold: float) -> Figure:
    """The 2 x 2 confusion matrix at ``threshold`` with counts in the cells."""
    c = confusion(y, scores > threshold)
    cells = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    fig = _figure((4.2, 3.8))
    ax = fig.add_subplot()
    ax.imshow(cells, cmap="Blues")
    for (i, j), value in np.ndenumerate(cells):
        dark = value > cells.max() / 2
        ax.text(j, i, f"{value:,}", ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks([0, 1], ["normal", "anomalous"])
    ax.set_yticks([0, 1], ["normal", "anomalous"])
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion at {threshold:.4g}")
    return fig


def _save(fig: Figure, path: Path) -> str:
    engine = fig.get_layout_engine()
    rc = mpl.rcParams
    if engine is not None and rc["savefig.dpi"] in ("figure", fig.dpi) \
            and not rc["figure.autolayout"] and not rc["figure.constrained_layout.use"]:
        # placed at the dpi it is saved at, then no engine (these rc settings would bring one
        # back): savefig then skips its placing draw
        engine.execute(fig)
        fig.set_layout_engine(None)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return str(path)


def write_plots(out_dir: str | os.PathLike, y: Any, scores: Any, threshold: float, *,
                prefix: str = "") -> dict[str, str]:
    """Write the evaluation plots of one scored split as PNGs.

    Parameters
    ----------
    out_dir : str or PathLike
        Folder to write into (created if missing).
    y : array-like of shape (n,) or None
        0/1 labels; None writes only the score histogram.
    scores : array-like of shape (n,)
        Higher = more anomalous.
    threshold : float
        ``score > threshold`` is flagged; drawn on every plot.
    prefix : str, default ""
        Prepended to file names (e.g. ``"test_"``).

    Returns
    -------
    dict
        Plot name (see :data:`PLOT_NAMES`) to the PNG path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = np.asarray(scores, dtype=np.float64).ravel()
    threshold = float(threshold)
    figures: dict[str, Figure] = {}
    if y is not None:
        yy = np.asarray(y).astype(np.int64).ravel()
        if yy.shape != s.shape:
            raise ValueError(f"y has {yy.size} labels for {s.size} scores")
        figures["pr_curve"] = pr_curve_figure(yy, s, threshold)
        figures["roc_curve"] = roc_curve_figure(yy, s, threshold)
        figures["score_histogram"] = score_histogram_figure(yy, s, threshold)
        figures["confusion_matrix"] = confusion_matrix_figure(yy, s, threshold)
    else:
        figures["score_histogram"] = score_histogram_figure(None, s, threshold)
    return {name: _save(fig, out / f"{prefix}{name}.png") for name, fig in figures.items()}
