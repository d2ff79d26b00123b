"""``logad demo``: the main job on the built-in synthetic corpus (what ``make demo`` runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from logad.cli.common import OutOpt, echo_outputs, echo_table, handle_errors

__all__ = ["register", "demo"]


@handle_errors
def demo(out: OutOpt, seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic corpus.")] = 0) -> None:
    """Run synth → ingest → parse → sessionize → train → evaluate on a synthetic OpenStack corpus.

    Example:
        logad demo --out demo
    """
    from logad.demo import run_demo

    def show(name: str, summary: dict) -> None:
        rows = summary.pop("table", None)
        if rows:
            echo_table(f"demo: {name}", rows)
        echo_outputs(f"demo: {name}", summary)

    run_demo(out, seed=seed, on_step=show)
    typer.echo(f"demo outputs are under {out}/")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
