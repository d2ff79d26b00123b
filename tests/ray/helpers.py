"""Helpers the Ray tests share: killing a worker mid-run, counting Parquet footer reads."""

from __future__ import annotations

import glob
import os
import threading
import time


def alive_actor_pids(actor_class: str) -> list[int]:
    import ray

    return [a["Pid"] for a in ray._private.state.actors().values()
            if a["State"] == "ALIVE" and a["ActorClassName"] == actor_class]


def kill_worker_when(pattern: str, actor_class: str, killed: dict,
                     timeout_s: float = 120) -> threading.Thread:
    """SIGKILL the process of one live ``actor_class`` actor as soon as a file matches
    ``pattern``; the killed pid goes to ``killed["pid"]``. Set ``killed["stop"]`` to end the watch.
    """

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not killed.get("stop"):
            if glob.glob(pattern) and (pids := alive_actor_pids(actor_class)):
                os.kill(pids[0], 9)
                killed["pid"] = pids[0]
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def count_footer_reads(monkeypatch) -> list[str]:
    """Record every path given to pyarrow.parquet's footer readers (which every logad module
    calls through ``pq.``); returns the list the calls are appended to."""
    import pyarrow.parquet as pq

    opened: list[str] = []

    def counting(real):
        def call(source, *args, **kwargs):
            opened.append(str(source))
            return real(source, *args, **kwargs)
        return call

    for name in ("ParquetFile", "read_metadata", "read_schema"):
        monkeypatch.setattr(pq, name, counting(getattr(pq, name)))
    return opened
