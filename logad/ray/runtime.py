"""Start or join Ray once per process.

On a laptop this starts an embedded local Ray; on a cluster (``RAY_ADDRESS`` set, or a job
submitted with ``ray job submit``) it joins the running cluster.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

from logad.ray import reaper

__all__ = ["ensure_ray", "size_local_ray", "stop_ray", "mute_ray_logs", "one_node"]

log = logging.getLogger(__name__)

_STARTED_HERE = False
_REAPER: subprocess.Popen | None = None
_LOCAL_CPUS: int | None = None  # --num-cpus: the size of a local Ray, when one is started


def _start_reaper() -> None:
    """Mark the local Ray about to start and start :mod:`logad.ray.reaper` to watch this process
    (once a process; the mark is inherited by every Ray process started from here)."""
    global _REAPER
    if _REAPER is not None:
        return
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if k != reaper.ENV}
    _REAPER = subprocess.Popen([sys.executable, "-m", "logad.ray.reaper", token,
                                str(os.getpid())],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    os.environ[reaper.ENV] = token


def _escaped(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def size_local_ray(num_cpus: int | None) -> None:
    """Record the CPUs of the local Ray that :func:`ensure_ray` starts when a stage first needs
    it (``--num-cpus``). Nothing starts here: a stage that runs in this process never pays
    for Ray at all."""
    global _LOCAL_CPUS
    _LOCAL_CPUS = num_cpus


def ensure_ray(num_cpus: int | None = None, **kwargs: Any) -> None:
    """Initialise Ray unless it already is; ``num_cpus`` (else :func:`size_local_ray`'s) only
    applies to a new local instance."""
    import ray

    if num_cpus is None:
        num_cpus = _LOCAL_CPUS
    from logad import console

    if ray.is_initialized():
        return
    verbose = console.mode().verbose
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    init_kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": True,
                                   "include_dashboard": False,
                                   # Ray's start-up notes (token file, "Started a local Ray
                                   # instance") and Ray Data's plans: with -v only
                                   "logging_level": logging.DEBUG if verbose else logging.ERROR}
    if not os.environ.get("RAY_ADDRESS") and num_cpus is not None:
        init_kwargs["num_cpus"] = num_cpus
    init_kwargs.update(kwargs)
    local = not os.environ.get("RAY_ADDRESS") and not init_kwargs.get("address")
    if local:
        _start_reaper()
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    # Ray hands its command line to its C++ core as UTF-8: a file name that is not valid UTF-8
    # (kept by Python as surrogates) would stop the start-up, so it goes in escaped (Ray 2.60's
    # helper; where it is missing nothing is changed)
    utils = getattr(ray._private, "utils", None)
    entrypoint = getattr(utils, "get_entrypoint_name", None)
    if entrypoint is not None:
        utils.get_entrypoint_name = lambda: _escaped(entrypoint())
    try:
        ray.init(**init_kwargs)
    finally:
        if entrypoint is not None:
            utils.get_entrypoint_name = entrypoint
    if main and sigterm is not None:
        signal.signal(signal.SIGTERM, sigterm)  # ray.init sets its own (sys.exit): keep ours
    global _STARTED_HERE
    node = getattr(ray._private.worker, "_global_node", None)
    _STARTED_HERE = bool(node is not None and node.head)  # a local Ray of our own, not a cluster
    ctx = ray.data.DataContext.get_current()
    # Ray Data's per-operator progress (bars on a terminal, a dump every 10 s elsewhere) tells
    # a user about Ray's scheduling; logad prints its own progress per stage
    ctx.enable_progress_bars = verbose and os.environ.get("LOGAD_PROGRESS", "1") == "1"
    if not verbose:
        # Ray Data configures its own loggers when it is imported: set them again here
        for name in ("ray", "ray.data", "ray.train", "ray.tune"):
            logging.getLogger(name).setLevel(logging.ERROR)
        _drop_system_lines()
    cpus = ray.cluster_resources().get("CPU", 0)
    log.info("ray: %s with %g CPUs", "local" if _STARTED_HERE else "cluster", cpus)
    log.debug("ray resources: %s", ray.cluster_resources())


def one_node() -> bool:
    """Whether the Ray cluster has one node alive (every worker shares this node's disk)."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive")) <= 1


def stop_ray() -> None:
    """Shut down the local Ray that :func:`ensure_ray` started in this process (a cluster that
    was joined is left alone), then let the reaper end what the shutdown left; called by the
    CLI on every way out, errors and signals too."""
    global _STARTED_HERE
    if not _STARTED_HERE:
        return
    _STARTED_HERE = False
    import ray

    ray.shutdown()
    _stop_reaper()


def _stop_reaper() -> None:
    """Close the reaper's pipe: it kills what Ray's shutdown left of the marked processes
    (and a later local Ray of this process gets a reaper of its own)."""
    global _REAPER
    if _REAPER is None:
        return
    _REAPER.stdin.close()  # it finishes on its own, in its own session: no waiting for it
    _REAPER = None
    os.environ.pop(reaper.ENV, None)


def _system_line(data: dict) -> bool:
    """A batch of log lines from Ray's own processes (GCS, raylet, autoscaler: e.g. "Failed to
    kill actor" while a pool winds down), not from a worker running logad's code."""
    return not str(data.get("pid", "")).isdigit()


def _drop_system_lines() -> None:
    """Let worker output (logad's warnings from inside actors, a user's error) reach the
    console, and drop Ray's system processes' lines; ``-v`` keeps them. Ray 2.60's dispatcher;
    a no-op where it differs."""
    try:
        from ray._private.worker import global_worker_stdstream_dispatcher as disp
    except ImportError:
        return
    lock, handlers = getattr(disp, "_lock", None), getattr(disp, "handlers", None)
    if lock is None or handlers is None:
        return
    with lock:
        for i, (name, handler) in enumerate(handlers):
            if name == "ray_print_logs" and not getattr(handler, "_logad", False):
                def keep(data: dict, _inner: Any = handler) -> None:
                    if not _system_line(data):
                        _inner(data)

                keep._logad = True  # type: ignore[attr-defined]
                disp.handlers[i] = (name, keep)


def mute_ray_logs() -> None:
    """Stop printing the Ray workers' and raylet's log lines here (an interrupted run's actors
    report their own ends, which tell a user nothing). Ray 2.60's handler name; a no-op where
    it differs."""
    if "ray" not in sys.modules:
        return
    try:
        from ray._private.worker import global_worker_stdstream_dispatcher

        global_worker_stdstream_dispatcher.remove_handler("ray_print_logs")
    except (ImportError, AttributeError, KeyError, ValueError):
        pass
