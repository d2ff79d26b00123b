"""``logad models``, ``logad train``, ``logad score``, ``logad evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from logad.cli.common import (ConfigOpt, NumCpusOpt, OutOpt, SetOpt, echo_outputs, echo_table,
                              handle_errors)
from logad.cli.settings import local_ray, stage_settings
from logad.settings import dotted_overrides

__all__ = ["register", "models", "train", "score", "evaluate"]

InputOpt = Annotated[Path, typer.Option("--input", "-i", help="A sequences folder written by `logad sessionize`.")]


def models() -> None:
    """List the named models (features + detector), one line each.

    Example:
        logad models
    """
    from logad.models.registry import MODELS

    for spec in MODELS.values():
        typer.echo(f"{spec.name:30s} {spec.description}")


@handle_errors
def train(
    model: Annotated[str, typer.Option("--model", "-m", help="A named model (see `logad models`), e.g. sequence_xgb_counts.")],
    input: InputOpt,
    out: OutOpt,
    threshold: Annotated[Optional[str], typer.Option("--threshold", help="How to pick the threshold on validation: best_f1, percentile, fpr, none.")] = None,
    q: Annotated[Optional[float], typer.Option("--q", help="Percentile of validation normals (--threshold percentile).")] = None,
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="False-positive rate on validation normals (--threshold fpr).")] = None,
    param: Annotated[Optional[List[str]], typer.Option("--param", help="Detector parameter NAME=VALUE (repeat); the same as --set params.NAME=VALUE.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker actors the stage uses, one CPU each (setting `workers`): the featurizing actors, and a torch model's Ray Train workers (DDP; GPUs when the cluster has them; default one).")] = None,
    num_cpus: NumCpusOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Torch models: continue the stopped Ray Train run of this --out from its last checkpoint.")] = False,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="Torch models: start from this model folder (vocabulary union, its weights).")] = None,
    replay: Annotated[Optional[str], typer.Option("--replay", help="Torch models: DIR:RATIO mixes RATIO x the train sessions of another sequences folder into training.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Torch models: training epochs.")] = None,
    patience: Annotated[Optional[int], typer.Option("--patience", help="Torch models: epochs without a better validation loss before stopping.")] = None,
) -> None:
    """Train a named model on the train split; pick its threshold on the validation split.

    Example:
        logad train --model sequence_xgb_counts --input runs/hdfs/sessions --out runs/hdfs/models/xgb
        logad train --model sequence_deeplog --input runs/hdfs/sessions --out runs/hdfs/models/deeplog --workers 2
    """
    from logad.ray.train import run_train
    from logad.settings import TrainSettings

    settings = stage_settings(TrainSettings, config, {
        "threshold.method": threshold, "threshold.q": q, "threshold.alpha": alpha,
        "workers": workers, "torch.resume": resume or None,
        "torch.init_from": str(init_from) if init_from else None, "torch.replay": replay,
        **dotted_overrides(param, prefix="params.", flag="--param"),
        "params.epochs": epochs, "params.patience": patience}, set_)
    local_ray(num_cpus)
    s = run_train(model, input, out, settings)
    v = s.get("validation") or {}
    echo_outputs(f"train {model} → {out}", {
        "train rows": s["train_rows"], "features": s["n_features"], "threshold": f"{s['threshold']:.6g}",
        "threshold method": s["threshold_method"], "val F1": v.get("f1"), "val ROC-AUC": v.get("roc_auc"),
        "seconds": s["seconds"]})


@handle_errors
def score(
    model: Annotated[List[Path], typer.Option("--model", "-m", help="A model folder written by `logad train` (repeat to score several in one pass).")],
    input: InputOpt,
    out: OutOpt,
    split: Annotated[Optional[str], typer.Option("--split", help="Score only this split (train/val/test); default all.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "--actors", min=1, help="Worker actors the stage uses (setting `workers`): scoring actors, each loads every model once; default one per CPU of the Ray cluster.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Sessions per batch (one part file each).")] = None,
    local_below: Annotated[Optional[int], typer.Option("--local-below", help="Score in-process below this many sessions (0: always on Ray).")] = None,
    num_cpus: NumCpusOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score sessions with one or more trained models into ``part-*.parquet`` (a row per session and model).

    Example:
        logad score --model runs/hdfs/models/xgb --model runs/hdfs/models/if --input runs/hdfs/sessions --out runs/hdfs/scores
    """
    from logad.io import as_folder
    from logad.ray.score import run_score
    from logad.settings import ScoreSettings

    settings = stage_settings(ScoreSettings, config, {"split": split, "workers": workers,
                                                      "batch_size": batch_size, "local_below": local_below}, set_)
    local_ray(num_cpus)
    m = run_score(model, input, out, settings)
    echo_table(f"score → {out}", [{k: r[k] for k in ("model", "version", "sessions", "flagged", "unknown_tokens")}
                                  for r in m["models"]])
    echo_outputs("score", {"seconds": m["seconds"], "parts": f"{as_folder(out)}/part-*.parquet ({len(m['parts'])})",
                           "skipped": bool(m.get("skipped"))})


@handle_errors
def evaluate(
    scores: Annotated[Path, typer.Option("--scores", "-s", help="A folder written by `logad score` (or its scores.parquet).")],
    out: OutOpt,
    split: Annotated[Optional[str], typer.Option("--split", help="Split to evaluate; 'all' for every session (default: configs/evaluate.yaml, test).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The model to evaluate: a model name (when the scores hold several) or a model folder (for PSI); default: the one the scores name.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Precision, recall, F1, ROC-AUC, PR-AUC, precision@k, FPR, confusion matrix, PSI and plots.

    Example:
        logad evaluate --scores runs/hdfs/scores/xgb --out runs/hdfs/eval/xgb
    """
    from logad.evaluate.evaluation import run_evaluate
    from logad.settings import EvaluateSettings

    settings = stage_settings(EvaluateSettings, config, {"split": split}, set_)
    from logad.io import as_folder, join, looks_remote

    is_dir = model is not None and (looks_remote(model) or Path(model).is_dir())
    r = run_evaluate(scores, out, model_dir=as_folder(model) if is_dir else None,
                     model=None if is_dir else model, cfg=settings)
    m = r["metrics"]
    echo_outputs(f"evaluate ({r['split'] or 'all'}) → {out}", {
        k: (f"{m[k]:.4f}" if isinstance(m.get(k), float) else m.get(k))
        for k in ("n", "n_anomalous", "precision", "recall", "f1", "roc_auc", "pr_auc", "fpr", "psi")}
        | ({"f1 (oracle: best cut on these labels)": f"{m['oracle']['f1']:.4f}"}
           if m.get("oracle") else {})
        | {"metrics": join(as_folder(out), "metrics.json"),
           "predictions": join(as_folder(out), "predictions.parquet"), "plots": join(as_folder(out), "plots")})


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("train")(train)
    app.command("score")(score)
    app.command("evaluate")(evaluate)
