"""``logad report``, ``logad compare``, ``logad validate``, ``logad compare-models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from logad.cli.common import OutOpt, echo_outputs, echo_table, handle_errors, echo_result

__all__ = ["register", "report", "compare", "validate", "compare_models"]

InputOpt = Annotated[Path, typer.Option("--input", "-i", help="A sequences folder written by `logad sessionize`.")]


@handle_errors
def report(
    input: InputOpt,
    scores: Annotated[Path, typer.Option("--scores", "-s", help="A scores folder written by `logad score`.")],
    model: Annotated[List[Path], typer.Option("--model", "-m", help="A model folder (repeat; the first leads).")],
    out: OutOpt,
    explain: Annotated[Optional[List[Path]], typer.Option("--explain", "-e", help="A folder written by `logad explain` (repeat).")] = None,
    parsed: Annotated[Optional[Path], typer.Option("--parsed", help="The parse folder (templates, events).")] = None,
    compare_json: Annotated[Optional[Path], typer.Option("--compare", help="A compare.json written by `logad compare` to include.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split of the metrics; 'all' for every session.")] = "test",
    title: Annotated[str, typer.Option("--title", help="Report title.")] = "run",
    triage: Annotated[Optional[Path], typer.Option("--triage", help="A `logad triage predict` folder: adds a \"lines to look at\" section.")] = None,
) -> None:
    """report.md and one self-contained report.html: metrics side by side, top anomalies with raw
    lines, templates, score distributions, PR/ROC, SHAP, nearest normal, drift, time views.

    Example:
        logad report -i runs/hdfs/sessions -s runs/hdfs/scores -m runs/hdfs/models/xgb -e runs/hdfs/explain/xgb -o runs/hdfs/report
    """
    from logad.io import as_folder, local_dir, read_json
    from logad.report import run_report

    ex = {}
    for d in explain or []:
        ex[read_json(local_dir(d, "explain folder") / "explain.json")["model"]] = str(as_folder(d))
    r = run_report(out, sequences=input, scores=scores, model_dirs=model, explain_dirs=ex, parsed=parsed,
                   split=None if split == "all" else split, title=title,
                   compare=read_json(compare_json) if compare_json else None, triage=triage)
    echo_outputs(f"report → {out}", {"plots": len(r["plots"]), "report.md": r["md"], "seconds": r["seconds"]})
    echo_result(f"report: {r['html']}", "report", str(r["html"]))


@handle_errors
def compare(
    target: Annotated[Path, typer.Option("--target", "-t", help="Parse folder of the corpus to examine.")],
    baseline: Annotated[Path, typer.Option("--baseline", "-b", help="Parse folder of the reference corpus.")],
    out: OutOpt,
) -> None:
    """Template distribution of a target corpus against a baseline: cosine, KL, JS, and the
    templates that appear or vanish with sample lines.

    Example:
        logad compare --target runs/today/parsed --baseline runs/last_week/parsed --out runs/today/compare
    """
    from logad.io import as_folder, join
    from logad.report.compare import run_compare

    r = run_compare(target, baseline, out)
    echo_outputs(f"compare → {as_folder(out)}", {
        "cosine": f"{r['cosine']:.4f}", "KL (bits)": f"{r['kl']:.4f}", "JS (bits)": f"{r['js']:.4f}",
        "appeared": r["n_appeared"], "vanished": r["n_vanished"],
        "compare.json": join(as_folder(out), "compare.json"), "skipped": bool(r.get("skipped"))})
    for kind in ("appeared", "vanished"):
        if r[kind]:
            echo_table(f"templates {kind}", [{"lines": t["lines"], "template": t["template"][:80],
                                              "sample": (t["samples"] or [""])[0][:80]} for t in r[kind][:10]])


@handle_errors
def validate(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `logad train`.")],
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="Sessions to check calibration and drift on.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split of --input to use.")] = "test",
) -> None:
    """A 0–100 quality score (validation metrics, calibration, drift) with the reasons.

    Example:
        logad validate runs/hdfs/models/xgb --input runs/hdfs/sessions
    """
    from logad.report.quality import run_validate

    r = run_validate(model_dir, input, split)
    echo_result(f"{r['model']}: quality {r['score']}/100", "quality", r)
    for reason in r["reasons"]:
        echo_result(f"  - {reason}")


@handle_errors
def compare_models(
    a: Annotated[Path, typer.Argument(help="First model folder.")],
    b: Annotated[Path, typer.Argument(help="Second model folder.")],
    input: InputOpt,
    split: Annotated[str, typer.Option("--split", help="Split of --input to score.")] = "test",
) -> None:
    """Two models side by side on the same sessions, and how far their flags agree.

    Example:
        logad compare-models runs/hdfs/models/xgb runs/hdfs/models/if --input runs/hdfs/sessions
    """
    from logad.report.quality import run_compare_models

    r = run_compare_models(a, b, input, split)
    echo_table(f"compare-models ({split})", r["models"])
    echo_outputs("agreement", r["agreement"])


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("compare")(compare)
    app.command("validate")(validate)
    app.command("compare-models")(compare_models)
