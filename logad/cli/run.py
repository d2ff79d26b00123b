"""``logad run``: the whole chain from one pipeline config, in one Ray session (when a stage needs one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from logad.cli.common import NumCpusOpt, SetOpt, echo_outputs, echo_result, echo_table, handle_errors

__all__ = ["register", "run"]


def show_stage(prefix: str):
    """A printer for the summary of each finished stage."""

    def show(name: str, summary: dict) -> None:
        rows = summary.pop("table", None)
        if rows:
            echo_table(f"{prefix}: {name}", rows)
        echo_outputs(f"{prefix}: {name}", summary)

    return show


@handle_errors
def run(
    config: Annotated[Path, typer.Argument(help="A pipeline YAML (e.g. configs/pipeline.yaml, or a name under configs/).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: the config's `out`).")] = None,
    num_cpus: NumCpusOpt = None,
    set_: SetOpt = None,
) -> None:
    """synth or inputs → ingest → parse → sessionize → train → score → evaluate → explain → report.

    Each stage writes its folder under the output folder and skips what is finished.

    Example:
        logad run configs/pipeline.yaml --out runs/demo
    """
    from logad.pipeline import run_pipeline
    r = run_pipeline(config, on_stage=show_stage("run"), sets=set_, out=str(out) if out else None,
                     num_cpus=num_cpus)
    echo_outputs("run", {"seconds": r["seconds"]["total"], "outputs": r["out"]})
    echo_result(f"report: {r['report']}", "report", str(r["report"]))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
