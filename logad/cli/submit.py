"""``logad submit`` and ``logad jobs status|logs|stop|list``: stages as Ray jobs on a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from logad.cli.common import echo_outputs, echo_table, handle_errors
from logad.errors import ConfigError, InputError

__all__ = ["register", "submit", "status", "logs", "stop", "list_jobs"]

jobs_app = typer.Typer(name="jobs", help="Jobs on a Ray cluster: status, logs, stop, list.", no_args_is_help=True)

AddressOpt = Annotated[str, typer.Option("--address", envvar="RAY_ADDRESS",
                       help="The head's dashboard, e.g. http://HEAD:8265 (default: $RAY_ADDRESS).")]
IdArg = Annotated[str, typer.Argument(help="The submission id `logad submit` printed.")]


def _address(address: str | None) -> str:
    if not address:
        raise ConfigError("no cluster: give --address http://HEAD:8265 or set RAY_ADDRESS")
    return address if "://" in address else f"http://{address}"


@handle_errors
def submit(
    stage: Annotated[str, typer.Argument(help="ingest | parse | sessionize | train | score | evaluate | pipeline.")],
    args: Annotated[Optional[List[str]], typer.Argument(help="The stage's own arguments, after `--` (as for `logad STAGE`).")] = None,
    address: AddressOpt = "",
    config: Annotated[Optional[str], typer.Option("--config", "-c", help="Config passed to the job (a path inside the working dir, or a name under configs/).")] = None,
    working_dir: Annotated[Optional[Path], typer.Option("--working-dir", help="Checkout to ship (default: this one; with --image: none).")] = None,
    pip: Annotated[Optional[List[str]], typer.Option("--pip", help="Extra pip packages on the workers (repeat).")] = None,
    image: Annotated[Optional[str], typer.Option("--image", help="Run in this container image (built from the Dockerfile).")] = None,
    env: Annotated[Optional[List[str]], typer.Option("--env", help="KEY=VALUE for the job's environment (repeat).")] = None,
    exclude: Annotated[Optional[List[str]], typer.Option("--exclude", help="More working-dir paths not to upload (repeat).")] = None,
    submission_id: Annotated[Optional[str], typer.Option("--submission-id", help="Default: logad-<stage>-<time>-<hex>.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the logs until the job ends.")] = True,
) -> None:
    """Submit a stage (or the whole pipeline) to a Ray cluster and follow its logs.

    Exits 0 when the job SUCCEEDED, 1 when it FAILED or was STOPPED.

    Example:
        logad submit ingest --address http://HEAD:8265 -- s3://b/HDFS.log --preset HDFS --out /data/hdfs/events
    """
    from logad.ray.submit import follow, runtime_env
    from logad.ray.submit import submit as run_submit

    env_vars = {}
    for pair in env or []:
        if "=" not in pair:
            raise ConfigError(f"--env expects KEY=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        env_vars[k] = v
    addr = _address(address)
    renv = runtime_env(working_dir, pip=pip or (), image=image, env_vars=env_vars, excludes=exclude or ())
    sid = run_submit(addr, stage, args or [], config=config, env=renv, sub_id=submission_id)
    typer.echo(f"submitted {sid} to {addr}", err=True)
    typer.echo(sid)
    if not wait:
        return
    final = follow(addr, sid, lambda s: typer.echo(s, nl=False))
    typer.echo(f"{sid}: {final}", err=True)
    if final != "SUCCEEDED":
        raise typer.Exit(code=1)


@handle_errors
def status(sid: IdArg, address: AddressOpt = "") -> None:
    """Show a job's status, message and entrypoint.

    Example:
        logad jobs status logad-ingest-20261201-120000-a1b2c3 --address http://HEAD:8265
    """
    from logad.ray.submit import job_status

    info = job_status(_address(address), sid)
    echo_outputs(f"job {sid}", {k: v for k, v in info.items() if k != "submission_id"})


@handle_errors
def logs(sid: IdArg, address: AddressOpt = "",
         follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")] = False) -> None:
    """Print a job's logs.

    Example:
        logad jobs logs logad-ingest-20261201-120000-a1b2c3 --follow
    """
    from logad.ray.submit import client, follow

    addr = _address(address)
    if follow_:
        follow(addr, sid, lambda s: typer.echo(s, nl=False))
        return
    try:
        typer.echo(client(addr).get_job_logs(sid), nl=False)
    except RuntimeError as exc:
        raise InputError(f"no logs for {sid!r} at {addr}: {exc}") from None


@handle_errors
def stop(sid: IdArg, address: AddressOpt = "") -> None:
    """Stop a running job.

    Example:
        logad jobs stop logad-ingest-20261201-120000-a1b2c3
    """
    from logad.ray.submit import stop_job

    was_running = stop_job(_address(address), sid)
    typer.echo(f"{sid}: {'stop requested' if was_running else 'was not running'}")


@handle_errors
def list_jobs(address: AddressOpt = "") -> None:
    """List the cluster's jobs, newest first.

    Example:
        logad jobs list --address http://HEAD:8265
    """
    from logad.ray.submit import client

    jobs = sorted(client(_address(address)).list_jobs(), key=lambda j: j.start_time or 0, reverse=True)
    rows = [{"submission id": j.submission_id or "", "status": str(getattr(j.status, "value", j.status)),
             "entrypoint": (j.entrypoint or "")[:60]} for j in jobs]
    if rows:
        echo_table("jobs", rows)


def register(app: typer.Typer) -> None:
    """Add ``submit`` and the ``jobs`` group to ``app``."""
    app.command("submit")(submit)
    jobs_app.command("status")(status)
    jobs_app.command("logs")(logs)
    jobs_app.command("stop")(stop)
    jobs_app.command("list")(list_jobs)
    app.add_typer(jobs_app, name="jobs")
