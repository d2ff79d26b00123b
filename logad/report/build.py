"""``logad report``: collect metrics, explanations and time views of a run into ``report.md``,
one self-contained ``report.html`` and ``plots/*.png``.

Everything is read from the stages' folders (scores parts, model folders, explain folders,
sequences, the parse folder). The report runs on the driver: it reads the score columns of the
sessions, the session start times, and the time and template columns of the events (at most
``max_lines`` of them) — small columns, but O(input); a summary of a cluster-sized run would
sample there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logad import __version__
from logad.evaluate.metrics import compute_metrics, psi
from logad.explain import events_files, read_templates
from logad.io import (as_folder, atomic_path, dataset_of, join, local_dir, looks_remote, open_parquet,
                      open_stage, output_dir, read_json, read_table, write_json)
from logad.models.folder import read_model_yml
from logad.report import figures as F
from logad.report.render import to_html, to_markdown
from logad.report.temporal import hour_weekday_counts, template_series
from logad.report.triage import triage_section
from logad.scoring.parts import read_scores

__all__ = ["run_report"]


def _missed_rows(explanations: list[dict], most: int = 30) -> list[list[str]]:
    """Rows ``[session, position, event, expected instead]`` of a sequence model's explanations
    (DeepLog: the events whose true id was not among the top k predictions)."""
    rows = []
    for e in explanations:
        for m in e.get("missed", []):
            rows.append([str(e.get("session_id")), str(m["pos"]), m.get("event_text", str(m["event"])),
                         " | ".join(m.get("expected_text", [str(x) for x in m["expected"]]))])
    return rows[:most]


def _model_section(scores: str | Path, model_dir: str | Path, split: str | None) -> tuple[dict, tuple, bytes]:
    meta = read_model_yml(model_dir)
    name = (meta.get("extra") or {}).get("model")
    t = read_scores(scores, model=name, columns=["session_id", "score", "is_anomaly", "threshold", "label", "split"])
    everything = t.column("score").to_numpy()
    if split:
        t = t.filter(pc.equal(t.column("split"), split))
    labels = t.column("label").to_numpy(zero_copy_only=False).astype(float)
    known = ~np.isnan(labels)
    s = t.column("score").to_numpy()
    thr = float(meta["threshold"])
    y = labels[known].astype(int) if known.any() else None
    m = compute_metrics(y, s[known] if y is not None else s, thr, meta.get("score_reference"))
    if meta.get("score_reference"):
        m["psi"] = psi(meta["score_reference"], everything)
    curve = (y, s[known]) if y is not None else (np.zeros(0), np.zeros(0))
    return ({"model": name, "threshold": thr, "metrics": m,
             "threshold_method": meta.get("threshold_method")}, curve,
            F.score_hist_png(name, y, s[known] if y is not None else s, thr))


def _temporal(sequences: str | Path, scores: str | Path, primary: str) -> dict:
    from logad.io import sequences_files

    files = sequences_files(sequences)
    st = dataset_of(files).to_table(columns=["session_id", "start_time"])
    st = st.take(pc.sort_indices(st, sort_keys=[("session_id", "ascending")]))
    flags = read_scores(scores, model=primary, columns=["session_id", "is_anomaly"])
    flag = dict(zip(flags.column("session_id").to_pylist(), flags.column("is_anomaly").to_pylist()))
    f = np.array([flag.get(s, 0) or 0 for s in st.column("session_id").to_pylist()], dtype=int)
    return hour_weekday_counts(st.column("start_time"), f)


def _events_columns(parsed: str | Path | None, max_lines: int) -> pa.Table | None:
    files = events_files(join(parsed, "events")) if parsed else []
    if not files:
        return None
    out, n = [], 0
    for f in files:
        if "template_id" not in open_parquet(f).schema_arrow.names:
            return None
        t = read_table(f, columns=["timestamp", "template_id"])
        out.append(t)
        n += t.num_rows
        if n >= max_lines:
            break
    return pa.concat_tables(out).slice(0, max_lines)


def _explain_of(explain_dirs: Mapping[str, str | Path], name: str) -> dict:
    d = explain_dirs.get(name)
    p = local_dir(d, "explain folder") / "explain.json" if d else None
    return read_json(p) if p and p.is_file() else {}


def _explain_plot(explain_dir: str | Path | None, path: str) -> Path | None:
    """The local file of a plot ``explain.json`` names: an explanation on object storage names
    it in its run's prefix; its fetched copy holds it under ``plots/``."""
    if looks_remote(path):
        return local_dir(explain_dir, "explain folder") / "plots" / path.rsplit("/", 1)[-1]             if explain_dir else None
    return Path(path)


def _templates_table(parsed: str | Path | None) -> pa.Table | None:
    """The parse folder's ``templates.parquet`` (id, template, count), None when absent."""
    cols = ["template_id", "template", "count"]
    if parsed is None:
        return None
    if looks_remote(parsed):
        found = open_stage(parsed, "parse")
        return read_table(found.side("templates.parquet"), columns=cols) \
            if found.has_side("templates.parquet") else None
    path = Path(parsed) / "templates.parquet"
    return pq.read_table(path, columns=cols) if path.is_file() else None


def _write_bytes(data: bytes, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def run_report(out_dir: str | Path, *, sequences: str | Path, scores: str | Path,
               model_dirs: Sequence[str | Path], explain_dirs: Mapping[str, str | Path] | None = None,
               parsed: str | Path | None = None, split: str | None = "test", title: str = "run",
               compare: Mapping | None = None, max_lines: int = 2_000_000, top: int = 10,
               triage: str | Path | None = None) -> dict:
    """Write ``report.md``, ``report.html`` (self-contained), ``plots/*.png`` and ``report.json``.

    Parameters
    ----------
    out_dir : path
    sequences, scores : path
        The sessions and the scores folder (holding every model of ``model_dirs``).
    model_dirs : list of paths
        Models shown side by side; the first is the primary one (top anomalies, time views).
    explain_dirs : mapping, optional
        ``{model name: folder written by logad explain}``.
    parsed : path, optional
        The parse folder (templates and events); default: the one named by the explain output.
    split : str or None
        Split the metrics are computed on (default test).
    compare : mapping, optional
        A ``logad compare`` result to include.
    triage : path, optional
        A ``logad triage predict`` folder: the report gains a "lines to look at" section.
    """
    t0 = time.perf_counter()
    out, scores, sequences = as_folder(out_dir), as_folder(scores), as_folder(sequences)
    explain_dirs = dict(explain_dirs or {})
    plots: dict[str, bytes] = {}
    titles: dict[str, str] = {}
    models, curves = [], {}
    for d in model_dirs:
        sec, curve, hist = _model_section(scores, as_folder(d), split)
        models.append(sec)
        curves[sec["model"]] = curve
        plots[f"scores_{sec['model']}"] = hist
        titles[f"scores_{sec['model']}"] = f"score distribution: {sec['model']}"
    primary = models[0]["model"]
    plots["pr"], plots["roc"] = F.curves_png(curves, "pr"), F.curves_png(curves, "roc")
    titles = {"pr": "precision-recall curves (test)", "roc": "ROC curves (test)", **titles}
    ex = _explain_of(explain_dirs, primary)
    parsed = as_folder(parsed) if parsed else (as_folder(ex["parsed"]) if ex.get("parsed") else None)
    for name in [m["model"] for m in models]:
        e = _explain_of(explain_dirs, name)
        for key, path in (e.get("plots") or {}).items():
            local = _explain_plot(explain_dirs.get(name), str(path))
            if local is not None and local.is_file():
                plots[f"{key}_{name}"] = local.read_bytes()
                titles[f"{key}_{name}"] = f"{key.replace('_', ' ')}: {name} ({e.get('output')})"
    templates = read_templates(parsed)
    tt = _templates_table(parsed)
    dominant = []
    if tt is not None:
        tt = tt.take(pc.sort_indices(tt, sort_keys=[("count", "descending"), ("template_id", "ascending")]))
        dominant = tt.slice(0, top).to_pylist()
        plots["templates"] = F.bars_png([d["template"] for d in dominant], [d["count"] for d in dominant],
                                        "dominant templates", "lines")
        titles["templates"] = "dominant templates"
    temporal = _temporal(sequences, scores, primary)
    if sum(temporal["hour"]):
        plots["temporal"] = F.temporal_png(temporal)
        titles["temporal"] = f"sessions and flagged sessions ({primary}) by hour and weekday"
    ev = _events_columns(parsed, max_lines)
    series = None
    if ev is not None and ev.column("timestamp").null_count < ev.num_rows:
        series = template_series(ev.column("timestamp").to_numpy(zero_copy_only=False),
                                 ev.column("template_id").to_pylist())
        if series["series"]:
            plots["template_series"] = F.series_png(series, templates)
            titles["template_series"] = "template counts over time"
    n_sessions = sum(m["metrics"].get("n") or 0 for m in models[:1])
    data = {"title": title, "models": models, "plot_titles": titles,
            "summary_line": f"{len(models)} model(s); metrics on the {split or 'whole'} split "
                            f"({n_sessions} sessions); primary model {primary}; logad {__version__}",
            "top_anomalies": (ex.get("top_anomalies") or [])[:top], "templates": dominant,
            "nearest_normal": ex.get("nearest_normal") or [], "cases": ex.get("cases") or {},
            "missed_events": _missed_rows(ex.get("sequence_explanations") or []),
            "temporal": temporal, "template_series": {k: series[k] for k in ("new", "spikes")} if series else None,
            "compare": dict(compare) if compare else None,
            "triage": triage_section(triage, top=2 * top) if triage else None}
    if not looks_remote(out):
        return _write(Path(out), data, plots, models, t0, lambda rel: str(Path(out) / rel))
    with output_dir(out) as built:  # object storage: built here, then published
        result = _write(built.path, data, plots, models, t0, built.name)
        write_json({"stage": "report", "status": "complete", "logad_version": __version__,
                    "outputs": {"html": "report.html", "md": "report.md", "json": "report.json"}},
                   built.path / "manifest.json")
    return result


def _write(out: Path, data: dict, plots: dict[str, bytes], models: list[dict], t0: float,
           named) -> dict:
    """Write the report's files into the local folder ``out``; ``named`` says where a file of
    it ends up (the result names those places)."""
    files = {}
    for name, blob in plots.items():
        _write_bytes(blob, out / "plots" / f"{name}.png")
        files[name] = f"plots/{name}.png"
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(to_markdown(data, files), encoding="utf-8")
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(to_html(data, plots), encoding="utf-8")
    result = {"stage": "report", "logad_version": __version__, "html": named("report.html"),
              "md": named("report.md"), "plots": sorted(files), "models": [m["model"] for m in models],
              "seconds": round(time.perf_counter() - t0, 3)}
    write_json({**result, "data": {k: v for k, v in data.items() if k != "plot_titles"}}, out / "report.json")
    return result


