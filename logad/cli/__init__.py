"""The ``logad`` command: one module per command group, wired here.

Each module exposes ``register(app)``, which adds its commands to the top-level Typer app; the
list below is the whole command set, in ``--help`` order.
"""

from __future__ import annotations

import typer

from logad.cli import (data, demo, explain, ingest, lo2, models, parse, report, run, sessionize,
                       submit, synth, triage)

__all__ = ["app", "main"]

app = typer.Typer(name="logad", help="Log anomaly detection at cluster scale, on Ray.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

COMMAND_MODULES = (synth, ingest, parse, sessionize, models, explain, report, run, demo, triage,
                   lo2, data, submit)

for _module in COMMAND_MODULES:
    _module.register(app)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging, Ray's own logs and progress bars included."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
          as_json: bool = typer.Option(False, "--json", help="Print one JSON summary of the run on stdout (and nothing else there).")) -> None:
    from logad.cli.common import setup_logging

    setup_logging(verbose, quiet, as_json)


def main() -> None:
    app()
