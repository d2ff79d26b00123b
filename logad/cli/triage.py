"""``logad triage label|train|predict``: LOOK/SKIP line triage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from logad.cli.common import ConfigOpt, NumCpusOpt, OutOpt, WorkersOpt, echo_outputs, echo_table, handle_errors
from logad.cli.settings import local_ray, stage_settings

__all__ = ["register", "triage_app"]

triage_app = typer.Typer(name="triage", no_args_is_help=True,
                         help="LOOK/SKIP line triage: which lines of a log to read.")


def _settings(config: Optional[Path], flags: dict | None = None):
    from logad.settings import TriageSettings

    return stage_settings(TriageSettings, config, flags or {})


def _cfg(config: Optional[Path], flags: dict | None = None) -> dict:
    return _settings(config, flags).dump()


def _named(out: Path, name: str, m: dict) -> object:
    """The file ``name`` of the output folder ``out`` (an ``s3://`` one restored from the path
    option's ``s3:/``), with ``(skipped)`` when the run found it finished."""
    from logad.io import as_folder, join

    where = join(as_folder(out), name)
    return f"{where} (skipped)" if m.get("skipped") else where


@triage_app.command("label")
@handle_errors
def label(
    data: Annotated[Optional[List[Path]], typer.Argument(help="Log files or folders of samples (default: the loghub 2k samples in $LOGAD_SHARED_DATA/loghub_2k).")] = None,
    out: OutOpt = Path("runs/triage/labels"),
    user_labels: Annotated[Optional[Path], typer.Option("--user-labels", help='JSONL of {"dataset", "line", "label", "reason"}; line = 1-based number or the exact text.')] = None,
    llm: Annotated[bool, typer.Option("--llm/--no-llm", help="Label the rest with the LLM through the message-batches API (key from llm.api_key_env).")] = False,
    new_only: Annotated[bool, typer.Option("--new-only", help="Only datasets without labels yet; appends.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Build a labelled line set: ground truth, then user labels, then the LLM.

    Existing labels in OUT/labels.parquet are never overwritten.

    Example:
        logad triage label ../shared/data/loghub_2k --user-labels mine.jsonl --out runs/triage/labels
    """
    import os

    from logad.triage.runs import run_label

    if not data:
        data = [Path(os.environ.get("LOGAD_SHARED_DATA", "../shared/data")) / "loghub_2k"]
    m = run_label([str(d) for d in data], out, _cfg(config), user_labels=user_labels,
                  use_llm=llm, new_only=new_only)
    if m["datasets"]:
        echo_table("labels", [{k: d[k] for k in ("dataset", "lines", "look", "ground_truth",
                                                 "user", "llm")} for d in m["datasets"]])
    if m["llm_vs_ground_truth"]:
        echo_table("LLM vs ground truth", [{"dataset": d, **v} for d, v in m["llm_vs_ground_truth"].items()])
    rows = {"datasets labelled now": len(m["datasets_labelled_now"]), "rows added": m["rows_added"],
            "rows total": m["rows_total"], "user label problems": m["n_user_label_problems"]}
    if m["llm"]:
        rows.update({f"llm {k}": v for k, v in m["llm"].items() if k != "problems"})
    rows["labels"] = _named(out, "labels.parquet", m)
    echo_outputs(f"triage label → {out}", rows)


@triage_app.command("train")
@handle_errors
def train(
    labels: Annotated[Path, typer.Argument(help="labels.parquet, or the folder of `logad triage label`.")],
    out: OutOpt,
    datasets: Annotated[Optional[List[str]], typer.Option("--dataset", help="Train on these datasets only (repeat).")] = None,
    n_splits: Annotated[Optional[int], typer.Option("--n-splits", help="GroupKFold folds (train.n_splits).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Grid-search logistic regression with GroupKFold by dataset; export the portable model.

    Writes model.json (parity-checked against scikit-learn), grid.csv/grid.json, oof.parquet.

    Example:
        logad triage train runs/triage/labels --out runs/triage/model
    """
    from logad.triage.runs import run_train

    m = run_train(labels, out, _cfg(config, {"train.n_splits": n_splits}), datasets=datasets)
    b = m["best"]
    echo_outputs(f"triage train → {out}", {
        "lines": m["lines"], "LOOK lines": m["look"], "datasets": len(m["datasets"]),
        "grid points": m["grid_points"], "best C": b["C"],
        "word / char features": f"{b['word_max_features']} / {b['char_max_features']}",
        "mean held-out AP": f"{b['mean_ap']:.3f}", "threshold": f"{m['threshold']:.4f}",
        "parity lines": m["parity_lines"], "seconds": m["seconds"],
        "model": _named(out, "model.json", m)})


@triage_app.command("predict")
@handle_errors
def predict(
    inputs: Annotated[List[str], typer.Argument(help="Log files, folders, globs or URLs.")],
    model: Annotated[Path, typer.Option("--model", help="Folder of `logad triage train` (or its model.json).")],
    out: OutOpt,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="P(LOOK) from which a line is LOOK (default: the model's); lower = more recall, more lines.")] = None,
    max_look_share: Annotated[Optional[float], typer.Option("--max-look-share", help="At most this share of a file's lines marked LOOK, the most likely ones (default 0.3; 1: no cap).")] = None,
    workers: WorkersOpt = None,
    num_cpus: NumCpusOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Mark every line LOOK or SKIP; write the LOOK lines and a summary.

    Writes looks.parquet (path, line_no, probability, reason, line), summary.json (share LOOK,
    top LOOK templates), manifest.json.

    Example:
        logad triage predict /var/log/big.log --model runs/triage/model --out runs/triage/big
    """
    from logad.ray.triage import run_triage

    settings = _settings(config, {"predict.threshold": threshold, "predict.workers": workers,
                                    "predict.max_look_share": max_look_share})
    local_ray(num_cpus)
    m = run_triage(inputs, model, out, settings.predict)
    t = m["totals"]
    echo_outputs(f"triage predict → {out}", {
        "lines read": t["lines_read"], "scored": t["scored"], "rejected": t["rejected"],
        "LOOK": t["look"], "share LOOK": f"{100 * m['look_share']:.2f} %",
        "threshold": f"{m['threshold']:.4f}",
        "files capped at max_look_share": m["capped_files"], "seconds": m["seconds"],
        "errors": len(m["errors"]), "looks": _named(out, "looks.parquet", m),
        "summary": _named(out, "summary.json", m)})
    if m["errors"]:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(triage_app, name="triage")
