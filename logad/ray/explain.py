"""Explain runner: why a model flagged what it flagged, into ``explain.json`` + ``shap.parquet`` + PNGs.

The top-ranked sessions of a scores folder are explained with SHAP (:mod:`logad.explain`) on a
Ray actor pool: each actor builds the explainer once (model + background) and explains the
batches it gets; a session's values depend only on the session and the background, so they do
not depend on the number of actors. The driver then adds readable names, the nearest normal
neighbour of the top flagged sessions, the false-positive / false-negative lists and the raw
lines behind them (read back through each session's ``refs`` from the events table).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from logad import __version__
from logad.errors import ConfigError, InputError
from logad.explain import (ShapExplainer, error_cases, events_files, explainer_kind,
                           nearest_normal, read_lines, read_templates, readable_names, sample_ids,
                           sequence_hook, session_refs, top_features)
from logad.explain.plots import shap_bar_png, shap_beeswarm_png
from logad.explain.shap_values import UNSUPPORTED, output_label
from logad.io import (ManifestError, as_folder, dataset_of, finished_manifest, key_file,
                      looks_remote, open_stage, output_dir, read_manifest, sequences_files,
                      write_json, write_parquet)
from logad.models.trained import TrainedModel
from logad.scoring.parts import read_scores, score_parts
from logad.settings import ExplainSettings, coerce, stage_key

__all__ = ["run_explain", "ShapWorker"]

log = logging.getLogger(__name__)

class ShapWorker:
    """Ray Data callable class: builds the explainer once per actor, explains sequences batches."""

    def __init__(self, model_dir: str, background: np.ndarray, max_evals: int) -> None:
        self.model = TrainedModel.load(model_dir)
        self.explainer = ShapExplainer(self.model.detector, background, max_evals)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _explain_rows(self.model, self.explainer, batch)


def _explain_rows(model: TrainedModel, explainer: ShapExplainer, batch: pa.Table) -> pa.Table:
    X, _, _ = model.featurize(batch)
    ids = batch.column("session_id").to_pylist()
    values, base = explainer.explain(X, ids)
    dense = np.asarray(X.toarray(), dtype=np.float64)
    return pa.table({"session_id": pa.array(ids, pa.string()), "base_value": pa.array(base),
                     "values": pa.array(list(values), pa.list_(pa.float64())),
                     "x": pa.array(list(dense), pa.list_(pa.float64()))})


def _read_sessions(files: Sequence[str], ids: Sequence[str] | None = None, where=None) -> pa.Table:
    """Rows of a sequences folder: those whose id is in ``ids`` and/or that match ``where``."""
    ds = dataset_of(files)
    flt = where
    if ids is not None:
        e = pads.field("session_id").isin(pa.array(sorted(set(ids)), pa.string()))
        flt = e if flt is None else flt & e
    t = ds.to_table(filter=flt)
    return t.take(pc.sort_indices(t, sort_keys=[("session_id", "ascending")]))


def _session_ids(files: Sequence[str], where) -> list[str]:
    return dataset_of(files).to_table(
        columns=["session_id"], filter=where).column("session_id").to_pylist()


def _check_guards(n_rows: int, n_features: int, n_background: int, cfg: dict) -> None:
    if n_features > int(cfg["shap_feature_threshold"]):
        raise ConfigError(f"explain: the model has {n_features} features, more than "
                          f"--shap-feature-threshold {cfg['shap_feature_threshold']}; raise it to "
                          "explain this model anyway (time and memory grow with the features)")
    cells = (n_rows + n_background) * n_features
    if cells > int(cfg["shap_cell_threshold"]):
        raise ConfigError(f"explain: {n_rows} sessions + {n_background} background rows × "
                          f"{n_features} features = {cells} SHAP cells, more than "
                          f"--shap-cell-threshold {cfg['shap_cell_threshold']}; lower --shap-sample "
                          "or --shap-background, or raise --shap-cell-threshold")


def _shap_on_pool(model_dir: str, background: np.ndarray, rows: pa.Table, cfg: dict) -> pa.Table:
    # in this process: the same functions, for small runs and tests (an actor pool's start-up
    # costs seconds a model; SHAP on a few hundred sessions takes less)
    if cfg.get("workers") == 0 or rows.num_rows < int(cfg.get("local_below") or 0):
        model = TrainedModel.load(model_dir)
        return _explain_rows(model, ShapExplainer(model.detector, background, int(cfg["max_evals"])), rows)
    import ray

    from logad.ray.pool import pool_size
    from logad.ray.runtime import ensure_ray

    ensure_ray()
    n = pool_size(cfg.get("workers"))
    cpus = float(ray.cluster_resources().get("CPU", 1))
    batch = max(1, -(-rows.num_rows // (2 * n)))
    out = ray.data.from_arrow(rows).map_batches(
        ShapWorker, fn_constructor_args=(model_dir, background, int(cfg["max_evals"])),
        batch_format="pyarrow", batch_size=batch, compute=ray.data.ActorPoolStrategy(size=n),
        num_cpus=min(1.0, cpus / n))
    tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
    t = pa.concat_tables(tables)
    return t.take(pc.sort_indices(t, sort_keys=[("session_id", "ascending")]))


def _parsed_dir(sequences: str | Path, cfg: dict) -> str | Path | None:
    if cfg.get("parsed"):
        return as_folder(cfg["parsed"])
    if looks_remote(sequences):
        src = open_stage(sequences).info.input  # sessionize's: the parsed folder it read
        return as_folder(src) if src else None
    sequences = Path(sequences)
    for m in (sequences / "manifest.json", sequences.parent / "manifest.json"):
        if m.is_file():
            try:
                src = read_manifest(m).input  # sessionize's: the parsed folder it read
            except ManifestError:
                continue
            if src:
                return Path(src)
    return None


def _lines_of(refs: dict[str, list[tuple[str, int]]], events: list[str]) -> dict[str, list[dict]]:
    got = read_lines(events, [r for rs in refs.values() for r in rs])
    return {sid: [{"path": p, **line} for p, n in rs for line in got.get((p, n), [])]
            for sid, rs in refs.items()}


def _neighbours(nn_dir: str, files: list[str], flagged: pa.Table, scores_dir: Path,
                templates: dict, cfg: dict) -> list[dict]:
    nn_model = TrainedModel.load(nn_dir)
    normal = read_scores(scores_dir, model=nn_model.spec.name, columns=["session_id"],
                         where=(pads.field("split") == "train") & (pads.field("is_anomaly") == 0)
                         & _not_anomalous()) if nn_model.spec.name in _models_in(scores_dir) \
        else None
    ids = normal.column("session_id").to_pylist() if normal is not None else \
        _session_ids(files, (pads.field("split") == "train") & _not_anomalous())
    pool = _read_sessions(files, sample_ids(ids, int(cfg["nn_normal_sample"])))
    if nn_model.spec.level != "sequence":
        return [{"session_id": s, "note": f"{nn_model.spec.name} is an event-level model; "
                 "pass a session-level model as --nn-source"} for s in flagged.column("session_id").to_pylist()]
    Xf, names, _ = nn_model.featurize(flagged)
    Xn, _, _ = nn_model.featurize(pool)
    names = readable_names(names, templates, nn_model.spec.features)
    return nearest_normal(Xf, flagged.column("session_id").to_pylist(), Xn,
                          pool.column("session_id").to_pylist(), names)


def _anchors(flagged: list[dict], rows: pa.Table, top_feature: dict[str, str]) -> dict[str, tuple]:
    """The raw line to show for each flagged session: the first line of the event its SHAP values
    blame most (session-level count models), else the line the score points at."""
    events = dict(zip(rows.column("session_id").to_pylist(), rows.column("event_ids").to_pylist()))
    refs = dict(zip(rows.column("session_id").to_pylist(), rows.column("refs").to_pylist()))
    out = {}
    for r in flagged:
        sid, anchor = r["session_id"], (r["ref_path"], r["ref_line_no"])
        ev, rf = events.get(sid) or [], refs.get(sid) or []
        if sid in top_feature and top_feature[sid] in ev:
            ref = rf[ev.index(top_feature[sid])]
            anchor = (ref["path"], ref["line_no"])
        out[sid] = anchor
    return out


def _not_anomalous():
    """Label 0 or unknown (a null label must not drop the row, as ``label != 1`` would)."""
    return pads.field("label").is_null() | (pads.field("label") == 0)


def _sequence_explanations(model: TrainedModel, rows: pa.Table, templates: dict[str, str]
                           ) -> list[dict] | None:
    """DeepLog-style explanations of ``rows`` with event ids turned into template text."""
    seqs, names, _ = model.featurize(rows)
    hooked = sequence_hook(model.detector, seqs)
    if hooked is None:
        return None

    def text(i: int) -> str:
        if i >= len(names):
            return "<end of session>"
        return templates.get(names[i], names[i])

    for sid, h in zip(rows.column("session_id").to_pylist(), hooked):
        h["session_id"] = sid
        for m in h["missed"]:
            m["event_text"] = text(m["event"])
            m["expected_text"] = [text(e) for e in m["expected"]]
    return hooked


def _models_in(scores_dir: Path) -> set[str]:
    parts = score_parts(scores_dir)
    if not parts:
        return set()
    return set(pads.dataset([str(p) for p in parts], format="parquet").to_table(
        columns=["model"]).column("model").unique().to_pylist())


def _cases(scores_dir: Path, name: str, files: list[str], events: list[str], cfg: dict) -> dict:
    split = cfg.get("case_split")
    where = pads.field("label").is_valid() & (
        ((pads.field("is_anomaly") == 1) & (pads.field("label") == 0))
        | ((pads.field("is_anomaly") == 0) & (pads.field("label") == 1)))
    if split:
        where = where & (pads.field("split") == split)
    wrong = read_scores(scores_dir, model=name, where=where,
                        columns=["session_id", "score", "is_anomaly", "label", "split", "rank"])
    out = {}
    for kind, t in error_cases(wrong, int(cfg["cases"])).items():
        rows = _read_sessions(files, t.column("session_id").to_pylist())
        lines = _lines_of(session_refs(rows, int(cfg["lines_per_case"])), events)
        out[kind] = [{**r, "lines": lines.get(r["session_id"], [])} for r in t.to_pylist()]
    out["counts"] = {"false_positives": int(pc.sum(pc.equal(wrong.column("label"), 0)).as_py() or 0),
                     "false_negatives": int(pc.sum(pc.equal(wrong.column("label"), 1)).as_py() or 0),
                     "split": split}
    return out


def run_explain(model_dir: str | Path, sequences: str | Path, scores: str | Path,
                out_dir: str | Path, cfg: dict | None = None) -> dict:
    """Explain the top-ranked sessions of ``scores`` for the model in ``model_dir``.

    Parameters
    ----------
    model_dir : path
        A model folder written by ``logad train`` (its scores must be in ``scores``).
    sequences : path
        The sequences folder the scores were made from.
    scores : path
        A scores folder written by ``logad score``.
    out_dir : path
        Gets ``explain.json``, ``shap.parquet``, ``plots/shap_bar.png``,
        ``plots/shap_beeswarm.png`` and ``manifest.json``.
    cfg : dict, optional
        The resolved :class:`~logad.settings.ExplainSettings` (a dict: values over
        ``configs/explain.yaml``): ``shap_background`` (0: the whole train split), ``shap_sample``,
        ``shap_feature_threshold``, ``shap_cell_threshold``, ``max_evals`` (permutation
        fallback), ``workers`` (0: in this process), ``local_below`` (fewer sessions to explain
        run in this process), ``nn_normal_sample``, ``nn_source`` (a model
        folder; default ``model_dir``), ``nn_top_k``, ``cases``, ``case_split``,
        ``lines_per_case``, ``context``, ``parsed`` (the parse folder: templates and events).
    """
    settings = coerce(ExplainSettings, cfg)
    cfg = settings.dump()
    t0 = time.perf_counter()
    model_dir = str(as_folder(model_dir))
    scores_dir, seq_dir = as_folder(scores), as_folder(sequences)
    model = TrainedModel.load(model_dir)
    name = model.spec.name
    files = sequences_files(seq_dir)
    out = as_folder(out_dir)
    parts = [key_file(scores_dir, "")] if looks_remote(scores_dir) else score_parts(scores_dir)
    key = stage_key([*files, *parts, key_file(model_dir, "model.yml")], settings)
    done = finished_manifest(out, key)
    if done is not None:
        log.info("%s: already explained with these inputs and settings; skipping", out)
        return {**done, "skipped": True}
    parsed = _parsed_dir(seq_dir, cfg)
    templates = read_templates(parsed)
    events = events_files(parsed)
    top = read_scores(scores_dir, model=name, where=pads.field("rank") <= int(cfg["shap_sample"]),
                      columns=["session_id", "score", "rank", "is_anomaly", "label", "split",
                               "ref_path", "ref_line_no"])
    if top.num_rows == 0:
        raise InputError(f"{scores_dir}: no scores of {name}; run `logad score --model {model_dir}` first")
    top = top.take(pc.sort_indices(top, sort_keys=[("rank", "ascending")]))
    rows = _read_sessions(files, top.column("session_id").to_pylist())
    kind = explainer_kind(model.detector)
    result: dict[str, Any] = {"stage": "explain", "logad_version": __version__, "model": name,
                              "model_dir": model_dir, "explainer": kind, "explained": 0}
    values = X = None
    shap_rows: dict[str, str] = {}  # session -> raw name of its top positive feature
    with output_dir(out) as built:
        tmp = built.path
        if kind == "sequence":
            hooked = _sequence_explanations(model, rows, templates)
            result["note"] = UNSUPPORTED if hooked is None else "events the model missed"
            result["sequence_explanations"] = hooked
        else:
            n_feat = int(model.detector.n_features_in_)
            bg_ids = _session_ids(files, pads.field("split") == "train")
            bg_ids = sample_ids(bg_ids, int(cfg["shap_background"]))
            _check_guards(rows.num_rows, n_feat, len(bg_ids), cfg)
            Xb, names, _ = model.featurize(_read_sessions(files, bg_ids))
            background = np.asarray(Xb.toarray(), dtype=np.float64)
            shap_t = _shap_on_pool(model_dir, background, rows, cfg)
            values = np.asarray(shap_t.column("values").to_pylist(), dtype=np.float64)
            X = np.asarray(shap_t.column("x").to_pylist(), dtype=np.float64)
            readable = readable_names(names, templates, model.spec.features)
            for i, sid in enumerate(shap_t.column("session_id").to_pylist()):
                if values[i].max() > 0:
                    shap_rows[sid] = names[int(np.argmax(values[i]))].split(":", 1)[-1]
            ranks = dict(zip(top.column("session_id").to_pylist(), top.to_pylist()))
            sessions = []
            for i, sid in enumerate(shap_t.column("session_id").to_pylist()):
                sessions.append({**{k: ranks[sid][k] for k in ("session_id", "rank", "score", "is_anomaly", "label")},
                                 "base_value": shap_t.column("base_value")[i].as_py(),
                                 "top_features": top_features(values[i], X[i], readable, int(cfg["top_features"]))})
            sessions.sort(key=lambda r: r["rank"])
            write_parquet(shap_t.drop(["x"]), tmp / "shap.parquet")
            plots = {"shap_bar": shap_bar_png(values, readable, tmp / "plots" / "shap_bar.png",
                                              title=f"{name}: mean |SHAP| ({shap_t.num_rows} top sessions)"),
                     "shap_beeswarm": shap_beeswarm_png(values, X, readable, tmp / "plots" / "shap_beeswarm.png",
                                                        title=f"{name}: SHAP values")}
            result.update({"explained": shap_t.num_rows, "background": len(bg_ids), "features": n_feat,
                           "output": output_label(model.detector),
                           "feature_names": readable, "sessions": sessions,
                           "plots": {k: built.name(f"plots/{Path(v).name}") for k, v in plots.items()}})
        flagged = top.filter(pc.equal(top.column("is_anomaly"), 1)).slice(0, int(cfg["nn_top_k"]))
        flagged_rows = _read_sessions(files, flagged.column("session_id").to_pylist())
        result["nearest_normal"] = _neighbours(str(cfg.get("nn_source") or model_dir), files, flagged_rows,
                                               scores_dir, templates, cfg) if flagged.num_rows else []
        anchors = _anchors(flagged.to_pylist(), flagged_rows, shap_rows)
        ctx = read_lines(events, anchors.values(), int(cfg["context"]))
        result["top_anomalies"] = [
            {**r, "ref_path": anchors[r["session_id"]][0], "ref_line_no": anchors[r["session_id"]][1],
             "context": ctx.get(anchors[r["session_id"]], [])} for r in flagged.to_pylist()]
        result["cases"] = _cases(scores_dir, name, files, events, cfg)
        result.update({"run_key": key, "status": "complete", "parsed": str(parsed) if parsed else None,
                       "seconds": round(time.perf_counter() - t0, 3)})
        write_json(result, tmp / "explain.json")
        write_json({k: v for k, v in result.items() if k not in ("sessions", "feature_names",
                                                                 "nearest_normal", "top_anomalies", "cases")},
                   tmp / "manifest.json")
    return result

