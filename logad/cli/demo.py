"""``logad demo``: the main job on the built-in synthetic corpus (what ``make demo`` runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from logad.cli.common import OutOpt, handle_errors, echo_result

__all__ = ["register", "demo"]


@handle_errors
def demo(out: OutOpt, seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic corpus.")] = 0) -> None:
    """Run the pipeline (synth → ingest → parse → sessionize → train → score → evaluate → explain →
    report) on a synthetic OpenStack corpus: ``logad run configs/demo.yaml``.

    Example:
        logad demo --out demo
    """
    from logad.cli.run import show_stage
    from logad.demo import run_demo

    r = run_demo(out, seed=seed, on_step=show_stage("demo"))
    echo_result(f"demo outputs are under {out}/", "outputs", str(out))
    echo_result(f"report: {r['report']['report.html']}", "report", str(r["report"]["report.html"]))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
