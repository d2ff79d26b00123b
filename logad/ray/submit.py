"""Submit logad stages to a Ray cluster as jobs, follow them, stop them.

A stage becomes ``python jobs/<stage>.py <args>`` run on the cluster by Ray's job supervisor, with
a ``runtime_env`` that ships this checkout (``working_dir``, minus data, venvs and outputs) and
either extra pip packages or a container image (the Dockerfile's).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from logad.errors import ConfigError, InputError

__all__ = ["STAGES", "EXCLUDES", "entrypoint", "runtime_env", "submission_id", "client", "submit",
           "follow", "job_status", "stop_job", "TERMINAL"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("ingest", "parse", "sessionize", "train", "score", "evaluate", "pipeline")
#: Never uploaded with the working_dir: environments, data, outputs, caches (gitignore syntax).
EXCLUDES = [".git", ".venv", "venv", "data", "outputs", "runs", "demo", "bench/results", "*.parquet",
            "**/__pycache__", ".pytest_cache", "*.tar", "*.tar.gz", "*.log.gz"]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def entrypoint(stage: str, args: Sequence[str] = (), config: str | None = None) -> str:
    """The shell command the job runs: ``python jobs/<stage>.py [--config C] args...``."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    parts = ["python", f"jobs/{stage}.py", *(["--config", config] if config else []), *args]
    return shlex.join(parts)


def runtime_env(working_dir: str | Path | None = None, *, pip: Sequence[str] = (), image: str | None = None,
                env_vars: dict[str, str] | None = None, excludes: Sequence[str] = ()) -> dict[str, Any]:
    """A ``runtime_env``: this checkout as ``working_dir`` (without :data:`EXCLUDES`), pip or an image.

    ``image`` (``image_uri``) runs the job in that container, which already holds logad (the
    Dockerfile), so no working_dir is shipped unless asked for; ``pip`` adds packages on top.
    """
    if image and pip:
        raise ConfigError("--image and --pip exclude each other: put the packages into the image")
    env: dict[str, Any] = {}
    if working_dir is not None or not image:
        wd = Path(working_dir or ROOT)
        if not (wd / "jobs").is_dir():
            raise InputError(f"--working-dir {wd}: no jobs/ folder in it (give the logad checkout)")
        env["working_dir"] = str(wd)
        env["excludes"] = [*EXCLUDES, *excludes]
    if pip:
        env["pip"] = list(pip)
    if image:
        env["image_uri"] = image
    if env_vars:
        env["env_vars"] = dict(env_vars)
    return env


def submission_id(stage: str) -> str:
    """``logad-<stage>-<UTC time>-<6 hex>``: sortable, unique, says what it is."""
    return f"logad-{stage}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def client(address: str):
    """A :class:`ray.job_submission.JobSubmissionClient` for the dashboard at ``address``."""
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot reach the Ray dashboard at {address}: {exc} "
                         "(give --address http://HEAD:8265, the head's dashboard)") from None


def submit(address: str, stage: str, args: Sequence[str] = (), *, config: str | None = None,
           env: dict[str, Any] | None = None, sub_id: str | None = None,
           metadata: dict[str, str] | None = None) -> str:
    """Submit one stage (or ``pipeline``); returns the submission id."""
    cmd = entrypoint(stage, args, config)
    sid = sub_id or submission_id(stage)
    c = client(address)
    try:
        c.submit_job(entrypoint=cmd, submission_id=sid, runtime_env=env or runtime_env(),
                     metadata={"logad_stage": stage, **(metadata or {})})
    except RuntimeError as exc:  # the dashboard's answer to a bad request, e.g. a duplicate id
        raise InputError(f"job submission to {address} refused: {exc}") from None
    log.info("submitted %s: %s", sid, cmd)
    return sid


def job_status(address: str, sid: str) -> dict[str, Any]:
    """Status, message, entrypoint and times of job ``sid``."""
    c = client(address)
    try:
        info = c.get_job_info(sid)
    except RuntimeError as exc:
        raise InputError(f"no job {sid!r} at {address}: {exc}") from None
    return {"submission_id": sid, "status": str(getattr(info.status, "value", info.status)),
            "message": info.message, "entrypoint": info.entrypoint,
            "start_time": info.start_time, "end_time": info.end_time}


def follow(address: str, sid: str, write: Callable[[str], None], *, timeout_s: float | None = None) -> str:
    """Stream job ``sid``'s logs through ``write`` until it ends; returns its final status."""
    c = client(address)

    async def tail() -> None:
        async for chunk in c.tail_job_logs(sid):
            write(chunk)

    try:
        asyncio.run(asyncio.wait_for(tail(), timeout_s))
    except asyncio.TimeoutError:
        log.warning("stopped following %s after %s s; it goes on running", sid, timeout_s)
    deadline = time.monotonic() + 30  # the status can lag the end of the log stream
    status = job_status(address, sid)["status"]
    while status not in TERMINAL and time.monotonic() < deadline and timeout_s is None:
        time.sleep(0.5)
        status = job_status(address, sid)["status"]
    return status


def stop_job(address: str, sid: str) -> bool:
    """Ask the cluster to stop ``sid``; True when it was running."""
    try:
        return bool(client(address).stop_job(sid))
    except RuntimeError as exc:
        raise InputError(f"cannot stop {sid!r} at {address}: {exc}") from None
