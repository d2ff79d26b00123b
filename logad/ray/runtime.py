"""Start or join Ray once per process.

On a laptop this starts an embedded local Ray; on a cluster (``RAY_ADDRESS`` set, or a job
submitted with ``ray job submit``) it joins the running cluster.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["ensure_ray", "stop_ray"]

log = logging.getLogger(__name__)

_STARTED_HERE = False


def ensure_ray(num_cpus: int | None = None, **kwargs: Any) -> None:
    """Initialise Ray unless it already is; ``num_cpus`` only applies to a new local instance."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    init_kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": True,
                                   "include_dashboard": False}
    if not os.environ.get("RAY_ADDRESS") and num_cpus is not None:
        init_kwargs["num_cpus"] = num_cpus
    init_kwargs.update(kwargs)
    ray.init(**init_kwargs)
    global _STARTED_HERE
    node = getattr(ray._private.worker, "_global_node", None)
    _STARTED_HERE = bool(node is not None and node.head)  # a local Ray of our own, not a cluster
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = os.environ.get("LOGAD_PROGRESS", "1") == "1"
    log.info("ray ready: %s", ray.cluster_resources())


def stop_ray() -> None:
    """Shut down the local Ray that :func:`ensure_ray` started in this process (a cluster that
    was joined is left alone); called by the CLI on every way out, errors and signals too."""
    global _STARTED_HERE
    if not _STARTED_HERE:
        return
    _STARTED_HERE = False
    import ray

    ray.shutdown()
