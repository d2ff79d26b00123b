"""`ray job submit` entry point for the whole pipeline: ``python jobs/pipeline.py --config FILE``.

Thin: parses the arguments and calls :func:`logad.pipeline.run_pipeline`, on the cluster that
``RAY_ADDRESS`` names (set by ``ray job submit``) or on a local Ray.

Example::

    ray job submit --address http://HEAD:8265 --working-dir . -- python jobs/pipeline.py --config configs/pipeline.yaml
"""

import json
import sys
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(config: str = typer.Option(..., "--config", "-c", help="Pipeline config YAML (a path or a name under configs/)."),
         set_: Optional[List[str]] = typer.Option(None, "--set", help="KEY=VALUE override of the config, dotted for sections (parse.drain.sim_th=0.5); the value is read as YAML (repeat)."),
         ) -> None:
    """Run every stage of the pipeline that CONFIG describes; prints the result as JSON.

    Example:
        python jobs/pipeline.py --config configs/pipeline.yaml --set out=/data/runs/hdfs
    """
    from logad.errors import LogadError

    try:
        from logad.pipeline import run_pipeline  # imported late: --help works without it
    except ImportError as exc:
        typer.echo(f"logad: error: this logad has no pipeline runner ({exc})", err=True)
        raise typer.Exit(code=2) from None
    try:
        result = run_pipeline(config, sets=set_)
    except LogadError as exc:
        typer.echo(f"logad: error: {exc}", err=True)
        raise typer.Exit(code=exc.exit_code) from None
    typer.echo(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    app(sys.argv[1:], prog_name="pipeline")
