"""Plots are real, non-empty PNGs written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from logad.evaluate.plots import PLOT_NAMES, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = Path(path).read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 2000


def test_write_plots_produces_all_pngs(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    s = rng.normal(size=300) + 2 * y
    paths = write_plots(tmp_path / "plots", y, s, threshold=1.0, prefix="test_")
    assert set(paths) == set(PLOT_NAMES)
    for name, path in paths.items():
        assert path.endswith(f"test_{name}.png")
        assert _is_png(path), name
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == \
        sorted(f"test_{n}.png" for n in PLOT_NAMES)  # no temp files left


def test_single_class_and_unlabelled(tmp_path):
    s = np.linspace(0, 1, 40)
    paths = write_plots(tmp_path, np.zeros(40, dtype=int), s, 0.5)
    assert all(_is_png(p) for p in paths.values())
    only_hist = write_plots(tmp_path / "u", None, s, 0.5)
    assert list(only_hist) == ["score_histogram"] and _is_png(only_hist["score_histogram"])


def test_constant_scores_threshold_outside_range(tmp_path):
    paths = write_plots(tmp_path, [0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3], 5.0)
    assert all(_is_png(p) for p in paths.values())


def test_one_draw_save_is_the_plain_savefig_byte_for_byte(tmp_path):
    """``_save`` places the tight layout itself and draws once; the PNG is what a plain
    ``savefig`` with the layout engine (two draws) writes."""
    import io

    from logad.evaluate import plots

    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.1).astype(int)
    s = rng.random(500) ** (1 + 3 * (1 - y))
    figures = {"pr": lambda: plots.pr_curve_figure(y, s, 0.6),
               "roc": lambda: plots.roc_curve_figure(y, s, 0.6),
               "hist": lambda: plots.score_histogram_figure(y, s, 0.6),
               "hist_unlabelled": lambda: plots.score_histogram_figure(None, s, 0.6),
               "confusion": lambda: plots.confusion_matrix_figure(y, s, 0.6),
               "one_class": lambda: plots.pr_curve_figure(np.zeros(50, int), s[:50], 0.6)}
    for name, make in figures.items():
        plain = io.BytesIO()
        make().savefig(plain, format="png")
        plots._save(make(), tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes() == plain.getvalue(), name
