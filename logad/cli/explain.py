"""``logad explain``: SHAP values, nearest normal neighbours and FP/FN lists of a scored model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from logad.cli.common import ConfigOpt, NumCpusOpt, OutOpt, SetOpt, echo_outputs, handle_errors
from logad.cli.settings import local_ray, stage_settings

__all__ = ["register", "explain"]


@handle_errors
def explain(
    model: Annotated[Path, typer.Option("--model", "-m", help="A model folder written by `logad train`.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="The sequences folder the scores were made from.")],
    scores: Annotated[Path, typer.Option("--scores", "-s", help="A scores folder written by `logad score` (holding this model).")],
    out: OutOpt,
    shap_background: Annotated[Optional[int], typer.Option("--shap-background", help="Background rows from the train split (0: the whole split).")] = None,
    shap_sample: Annotated[Optional[int], typer.Option("--shap-sample", help="Top-ranked sessions to explain.")] = None,
    shap_feature_threshold: Annotated[Optional[int], typer.Option("--shap-feature-threshold", help="Refuse models with more features than this.")] = None,
    shap_cell_threshold: Annotated[Optional[int], typer.Option("--shap-cell-threshold", help="Refuse more (sessions + background) × features cells than this.")] = None,
    nn_normal_sample: Annotated[Optional[int], typer.Option("--nn-normal-sample", help="Normal train sessions searched for nearest neighbours (0: all).")] = None,
    nn_source: Annotated[Optional[Path], typer.Option("--nn-source", help="Model folder whose features define the distance (default: --model).")] = None,
    nn_top_k: Annotated[Optional[int], typer.Option("--nn-top-k", help="Top flagged sessions given a nearest normal neighbour.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "--actors", min=0, help="Worker actors the stage uses (setting `workers`): SHAP actors (0: in this process); default one per CPU of the Ray cluster.")] = None,
    parsed: Annotated[Optional[Path], typer.Option("--parsed", help="The parse folder (templates, events); default: the one the sessions came from.")] = None,
    num_cpus: NumCpusOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Why the model flagged what it flagged: SHAP (bar + beeswarm PNG), readable top features,
    nearest normal neighbours with the templates that differ, FP/FN lists with raw lines.

    Example:
        logad explain --model runs/hdfs/models/xgb --input runs/hdfs/sessions --scores runs/hdfs/scores --out runs/hdfs/explain/xgb
    """
    from logad.io import as_folder, join
    from logad.ray.explain import run_explain
    from logad.settings import ExplainSettings

    settings = stage_settings(ExplainSettings, config, {"shap_background": shap_background, "shap_sample": shap_sample,
                               "shap_feature_threshold": shap_feature_threshold,
                               "shap_cell_threshold": shap_cell_threshold,
                               "nn_normal_sample": nn_normal_sample,
                               "nn_source": str(nn_source) if nn_source else None, "nn_top_k": nn_top_k,
                               "workers": workers, "parsed": str(parsed) if parsed else None}, set_)
    local_ray(num_cpus)
    r = run_explain(model, input, scores, out, settings)
    echo_outputs(f"explain {r['model']} → {out}", {
        "explainer": r["explainer"], "explained sessions": r.get("explained"),
        "background rows": r.get("background"), "nearest normal": len(r.get("nearest_normal") or []),
        "false positives": (r.get("cases") or {}).get("counts", {}).get("false_positives"),
        "false negatives": (r.get("cases") or {}).get("counts", {}).get("false_negatives"),
        "note": r.get("note", ""), "explain.json": join(as_folder(out), "explain.json"), "skipped": bool(r.get("skipped"))})


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
