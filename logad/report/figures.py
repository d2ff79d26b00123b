"""The report's figures as PNG bytes (matplotlib's object API on Agg, as in evaluate.plots)."""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from logad.report.temporal import DAYS

__all__ = ["png", "curves_png", "score_hist_png", "temporal_png", "series_png", "bars_png"]


def _fig(w: float = 6.0, h: float = 4.0) -> Figure:
    fig = Figure(figsize=(w, h), dpi=90, layout="tight")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curves_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], kind: str) -> bytes:
    """PR (``kind="pr"``) or ROC curves of several models on one axis."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig = _fig()
    ax = fig.add_subplot()
    for name, (y, s) in curves.items():
        if len(np.unique(y)) < 2:
            continue
        if kind == "pr":
            p, r, _ = precision_recall_curve(y, s)
            ax.step(r, p, where="post", label=name)
        else:
            f, t, _ = roc_curve(y, s)
            ax.plot(f, t, label=name)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="recall" if kind == "pr" else "false-positive rate",
           ylabel="precision" if kind == "pr" else "true-positive rate",
           title="Precision-recall (test)" if kind == "pr" else "ROC (test)", xlim=(0, 1.01), ylim=(0, 1.05))
    ax.legend(fontsize=7)
    return png(fig)


def score_hist_png(name: str, y: np.ndarray | None, s: np.ndarray, threshold: float) -> bytes:
    fig = _fig(5, 3.2)
    ax = fig.add_subplot()
    bins = np.histogram_bin_edges(s, bins=40)
    if y is not None and len(y):
        ax.hist(s[y == 0], bins=bins, alpha=0.6, label="normal")
        ax.hist(s[y == 1], bins=bins, alpha=0.6, label="anomalous")
    else:
        ax.hist(s, bins=bins, alpha=0.7, label="all")
    ax.axvline(threshold, color="C3", ls="--", label="threshold")
    ax.set(title=f"{name}: scores", xlabel="score", ylabel="sessions", yscale="log")
    ax.legend(fontsize=7)
    return png(fig)


def temporal_png(counts: Mapping[str, list[int]]) -> bytes:
    """Sessions (and flagged ones) by hour of day and by day of week."""
    fig = _fig(9, 3.2)
    for i, (key, labels) in enumerate((("hour", [str(h) for h in range(24)]), ("weekday", DAYS))):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.bar(labels, counts[key], color="#9bbcd8", label="sessions")
        if f"{key}_anomalous" in counts:
            ax.bar(labels, counts[f"{key}_anomalous"], color="C3", label="flagged")
        ax.set(title=f"by {'hour of day' if key == 'hour' else 'day of week'}")
        ax.tick_params(axis="x", labelsize=6)
        ax.legend(fontsize=7)
    return png(fig)


def series_png(ts: Mapping, names: Mapping[str, str]) -> bytes:
    """Template counts per time bin; ○ marks a spike, ▲ the first bin of a new template."""
    fig = _fig(9, 4)
    ax = fig.add_subplot()
    for k, (tid, c) in enumerate(ts["series"].items()):
        c = np.asarray(c)
        label = names.get(tid, tid)
        ax.plot(c, color=f"C{k % 10}", lw=1, label=label[:50])
        sp = ts["spikes"].get(tid, [])
        ax.plot(sp, c[sp], "o", mfc="none", color=f"C{k % 10}")
        if tid in ts["new"]:
            b = ts["new"][tid]
            ax.plot([b], [c[b]], "^", color=f"C{k % 10}", ms=9)
    ax.set(title="template counts over time (○ spike, ▲ new template)", xlabel="time bin", ylabel="lines")
    ax.legend(fontsize=6, loc="upper left")
    return png(fig)


def bars_png(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> bytes:
    fig = _fig(8, 0.35 * len(labels) + 1.2)
    ax = fig.add_subplot()
    ax.barh([lb[:70] for lb in labels][::-1], list(values)[::-1], color="#3b75af")
    ax.set(title=title, xlabel=xlabel)
    ax.tick_params(axis="y", labelsize=7)
    return png(fig)
